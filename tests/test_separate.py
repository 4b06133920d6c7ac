"""tools.separate: MDX-Net chunking/overlap-add, separation, denoise pass, noise fallback, CLI, batch."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from gpt_sovits.errors import AudioError
from tools.separate import (
    FALLBACK_MESSAGE,
    KNOWN_MODELS,
    UVR_MDX_PARAMS,
    MDXParams,
    ModelError,
    OnnxModel,
    SeparationOptions,
    default_model,
    demix,
    identify_model,
    load_separator,
    separate_file,
    separate_folder,
    uvr_model_hash,
)
from tools.separate.mdx import plan_chunks
from tools.separate.models import UVR_HASH_TAIL_BYTES, params_for_hash

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
SR = 44100
# Tiny geometry with UVR's hop: chunk = 1024 * 31 = 31744 samples, trim 2048, 1024 of 2049 bins.
TINY = MDXParams(n_fft=4096, dim_f=1024, dim_t=32, compensate=1.0, primary_stem="Vocals")
CUTOFF_BIN = 93  # ~1000 Hz at 44.1 kHz with n_fft 4096 (10.77 Hz per bin)


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


class LowPass(torch.nn.Module):
    """Keeps the bins below ``cutoff`` (odd in x); ``even`` adds an even term the denoise pass removes."""

    def __init__(self, dim_f: int, cutoff: int, even: float = 0.0) -> None:
        super().__init__()
        mask = torch.zeros(1, 1, dim_f, 1)
        mask[:, :, :cutoff] = 1.0
        self.register_buffer("mask", mask)
        self.even = even

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 4, dim_f, dim_t]
        return x * self.mask + self.even * torch.abs(x)


def export(module: torch.nn.Module, path: Path, dim_f: int, dim_t: int) -> Path:
    """Export with the MDX-Net signature: input "input" [B, 4, dim_f, dim_t] -> same shape."""
    pytest.importorskip("onnx", reason="torch.onnx.export (dynamo=False) needs the onnx package")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module.eval(),
            (torch.zeros(1, 4, dim_f, dim_t),),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
    return path


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("onnx")
    export(Identity(), d / "identity.onnx", TINY.dim_f, TINY.dim_t)
    export(Identity(), d / "identity_full.onnx", TINY.n_bins, TINY.dim_t)
    export(LowPass(TINY.dim_f, CUTOFF_BIN), d / "lowpass.onnx", TINY.dim_f, TINY.dim_t)
    export(LowPass(TINY.dim_f, CUTOFF_BIN, even=1.0), d / "lowpass_even.onnx", TINY.dim_f, TINY.dim_t)
    return d


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, onnx_dir) -> Path:
    """A models folder holding only the low-pass model (an unknown model: params must be given)."""
    d = tmp_path_factory.mktemp("models")
    (d / "lowpass.onnx").write_bytes((onnx_dir / "lowpass.onnx").read_bytes())
    return d


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - est) ** 2)))


def two_tones(seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Low (300 Hz) and high (3 kHz) stereo sources with different L/R levels, faded in and out."""
    t = np.arange(int(seconds * SR)) / SR
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    low = np.sin(2 * np.pi * 300 * t) * fade
    high = np.sin(2 * np.pi * 3000 * t) * fade
    low_st = np.stack([0.5 * low, 0.25 * low]).astype(np.float32)
    high_st = np.stack([0.2 * high, 0.35 * high]).astype(np.float32)
    return low_st, high_st


# --- chunk layout --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [None, 0.25, 0.5, 0.99])
@pytest.mark.parametrize("n", [1, 1000, 27648, 31744, 100003])
def test_every_sample_lies_well_inside_some_chunk(n, overlap):
    plan = plan_chunks(n, TINY, overlap)
    trim, chunk = TINY.trim, TINY.chunk_size
    covered = np.zeros(plan.total, dtype=bool)
    for s in plan.starts:
        covered[s + trim : s + chunk - trim] = True
    assert covered[trim : trim + n].all()
    assert plan.total == plan.starts[-1] + chunk
    # Minimal: dropping the last chunk would leave samples uncovered.
    if len(plan.starts) > 1:
        assert plan.starts[-2] + chunk - trim < trim + n


def test_bad_overlap_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        plan_chunks(1000, TINY, 1.0)


# --- identity model: chunking + overlap-add reconstructs the input -------------------------------


@pytest.mark.parametrize("n", [1000, 27647, 31744, 100003])
def test_identity_model_reconstructs_input(onnx_dir, n):
    full = MDXParams(n_fft=4096, dim_f=4096 // 2 + 1, dim_t=32, zero_low_bins=0)
    model = OnnxModel(onnx_dir / "identity_full.onnx", device="cpu")
    model.check_params(full)
    mix = np.random.default_rng(n).uniform(-0.5, 0.5, (2, n)).astype(np.float32)
    for overlap in (None, 0.5):
        out = demix(mix, full, model, overlap=overlap, batch_size=3)
        assert out.primary.shape == mix.shape
        assert np.max(np.abs(out.primary - mix)) < 1e-4


def test_identity_model_keeps_the_band_the_model_sees(onnx_dir):
    """With UVR's cut (bins >= dim_f and the lowest 3 zeroed) in-band tones pass unchanged."""
    low, high = two_tones(1.5)
    mix = low + high  # 300 Hz and 3 kHz: inside bins 3..1023
    out = demix(mix, TINY, OnnxModel(onnx_dir / "identity.onnx", device="cpu"), band_limited_mix=True)
    assert snr_db(mix, out.primary) > 50
    assert np.max(np.abs(out.band_limited_mix - out.primary)) < 1e-5


# --- masking model: separates a two-source mix -----------------------------------------------------


def test_lowpass_model_separates_two_tones_through_the_api(tmp_path, models_dir):
    low, high = two_tones()
    src = tmp_path / "mix.wav"
    sf.write(src, (low + high).T, SR, subtype="FLOAT")
    opts = SeparationOptions(mode="mdx", params=TINY, subtype="FLOAT", device="cpu")
    calls: list[tuple[float, str]] = []
    result = separate_file(
        src, tmp_path / "out", "lowpass", opts, lambda f, m: calls.append((f, m)), models_dir=models_dir
    )
    assert result.mode == "mdx" and result.model == "lowpass"
    assert result.providers == ["CPUExecutionProvider"]
    assert set(result.stems) == {"vocals", "instrumental"}
    vocals, sr_v = sf.read(result.vocals, dtype="float32", always_2d=True)
    inst, _ = sf.read(result.instrumental, dtype="float32", always_2d=True)
    assert sr_v == SR and vocals.shape == (low.shape[1], 2)
    assert snr_db(low, vocals.T) > 30  # primary (the model's output) = the low source
    assert snr_db(high, inst.T) > 30  # other stem = mix - primary = the high source
    assert calls[-1][0] == 1.0 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))


def test_onnx_session_matches_the_torch_module(onnx_dir):
    low, high = two_tones(1.0)
    module = LowPass(TINY.dim_f, CUTOFF_BIN).eval()

    def reference(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    via_onnx = demix(low + high, TINY, OnnxModel(onnx_dir / "lowpass.onnx", device="cpu"), batch_size=2)
    via_torch = demix(low + high, TINY, reference, batch_size=1)
    assert np.max(np.abs(via_onnx.primary - via_torch.primary)) < 1e-5


def test_compensation_scales_primary_and_other_stem_is_mix_minus_it(onnx_dir):
    low, high = two_tones(1.0)
    mix = low + high
    path = onnx_dir / "lowpass.onnx"
    plain = load_separator(path, SeparationOptions(params=TINY, device="cpu", match_frequency_cut=False))
    boosted = load_separator(
        path, SeparationOptions(params=TINY, compensate=1.05, device="cpu", match_frequency_cut=False)
    )
    a, b = plain.process(mix, SR), boosted.process(mix, SR)
    np.testing.assert_allclose(b["vocals"], 1.05 * a["vocals"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["instrumental"], mix - b["vocals"], atol=1e-6)


def test_frequency_cut_keeps_out_of_band_content_out_of_the_other_stem(onnx_dir):
    """Identity model: with UVR's cut the other stem is ~0; without it, it is the cut-off part."""
    mix = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 40000)).astype(np.float32)
    path = onnx_dir / "identity.onnx"
    with_cut = load_separator(path, SeparationOptions(params=TINY, device="cpu")).process(mix, SR)
    without = load_separator(
        path, SeparationOptions(params=TINY, device="cpu", match_frequency_cut=False)
    ).process(mix, SR)
    assert np.max(np.abs(with_cut["instrumental"])) < 1e-5
    # White noise: about (n_bins - dim_f + 3) / n_bins of its power lies outside the model's band.
    ratio = np.sum(without["instrumental"] ** 2) / np.sum(mix**2)
    assert ratio == pytest.approx((TINY.n_bins - TINY.dim_f + 3) / TINY.n_bins, rel=0.1)


def test_mono_input_is_duplicated_to_stereo(onnx_dir):
    low, high = two_tones(1.0)
    sep = load_separator(onnx_dir / "lowpass.onnx", SeparationOptions(params=TINY, device="cpu"))
    stems = sep.process((low + high)[:1], SR)
    assert stems["vocals"].shape == (2, low.shape[1])
    np.testing.assert_allclose(stems["vocals"][0], stems["vocals"][1], atol=1e-6)


# --- denoise pass -------------------------------------------------------------------------------------


def test_denoise_pass(onnx_dir):
    low, high = two_tones(1.5)
    mix = low + high
    odd = OnnxModel(onnx_dir / "lowpass.onnx", device="cpu")
    with_even = OnnxModel(onnx_dir / "lowpass_even.onnx", device="cpu")
    plain = demix(mix, TINY, odd).primary
    # An odd-symmetric model: f(x) = -f(-x), so the denoise average changes nothing.
    assert np.max(np.abs(demix(mix, TINY, odd, denoise=True).primary - plain)) < 1e-5
    # An even component (|x|) spoils the plain output; the denoise pass cancels it exactly.
    spoiled = demix(mix, TINY, with_even).primary
    assert snr_db(low, spoiled) < 12
    cleaned = demix(mix, TINY, with_even, denoise=True).primary
    assert np.max(np.abs(cleaned - plain)) < 1e-4
    assert snr_db(low, cleaned) > 30


# --- noise-reduction fallback --------------------------------------------------------------------------


def test_noise_reduction_fallback_improves_snr_on_speech(tmp_path, speak, caplog):
    pytest.importorskip("noisereduce")
    clean, sr = speak("The quick brown fox jumps over the lazy dog. Then it runs away.")
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(clean.shape[0]).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2))  # 0 dB SNR
    src = tmp_path / "noisy.wav"
    sf.write(src, clean + noise, sr, subtype="FLOAT")
    empty = tmp_path / "no_models"
    empty.mkdir()
    with caplog.at_level("WARNING"):
        result = separate_file(
            src, tmp_path / "out", options=SeparationOptions(subtype="FLOAT"), models_dir=empty
        )
    assert result.mode == "noise_reduction" and result.message == FALLBACK_MESSAGE
    assert "noise reduction" in caplog.text and "NOT removed" in caplog.text
    assert result.instrumental is None and set(result.stems) == {"denoised", "noise"}
    out, out_sr = sf.read(result.vocals, dtype="float32")
    assert out_sr == sr and out.shape == clean.shape
    before, after = snr_db(clean, clean + noise), snr_db(clean, out)
    assert after > before + 3, (before, after)
    removed, _ = sf.read(result.stems["noise"], dtype="float32")
    np.testing.assert_allclose(out + removed, clean + noise, atol=1e-5)


def test_mdx_mode_without_model_refuses(tmp_path):
    with pytest.raises(ModelError, match="No usable UVR5 MDX-Net model"):
        load_separator(None, SeparationOptions(mode="mdx"), tmp_path)


# --- folder batch, unreadable files, overwriting -------------------------------------------------------


def test_folder_skips_unreadable_file_and_reports_progress(tmp_path, models_dir):
    low, high = two_tones(1.0)
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a.wav", (low + high).T, SR)
    sf.write(src / "a.flac", (low + high).T, SR)  # same stem: outputs must not collide
    (src / "broken.wav").write_bytes(b"RIFF not really a wave file" * 10)
    (src / "notes.txt").write_text("not audio")
    calls: list[float] = []
    result = separate_folder(
        src,
        tmp_path / "out",
        "lowpass",
        SeparationOptions(params=TINY, device="cpu"),
        lambda f, m: calls.append(f),
        models_dir=models_dir,
    )
    assert [r.input.name for r in result.results] == ["a.flac", "a.wav"]
    assert [p.name for p, _ in result.skipped] == ["broken.wav"] and not result.ok
    assert "broken.wav" in result.skipped[0][1]
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "a_flac_instrumental.wav",
        "a_flac_vocals.wav",
        "a_wav_instrumental.wav",
        "a_wav_vocals.wav",
    ]
    assert calls[-1] == 1.0 and all(a <= b for a, b in zip(calls, calls[1:]))


def test_refuses_to_overwrite_outputs_and_inputs(tmp_path, models_dir):
    low, high = two_tones(1.0)
    folder = tmp_path / "work"
    folder.mkdir()
    sf.write(folder / "song.wav", (low + high).T, SR)
    opts = SeparationOptions(params=TINY, device="cpu")
    first = separate_file(folder / "song.wav", tmp_path / "out", "lowpass", opts, models_dir=models_dir)
    before = first.vocals.read_bytes()
    with pytest.raises(AudioError, match="already exists"):
        separate_file(folder / "song.wav", tmp_path / "out", "lowpass", opts, models_dir=models_dir)
    assert first.vocals.read_bytes() == before
    # Output folder = input folder and an input named like an output: never replaced, even with overwrite.
    sf.write(folder / "song_vocals.wav", low.T, SR)
    protected = (folder / "song_vocals.wav").read_bytes()
    result = separate_folder(
        [folder / "song.wav", folder / "song_vocals.wav"],
        folder,
        "lowpass",
        SeparationOptions(params=TINY, device="cpu", overwrite=True),
        models_dir=models_dir,
    )
    assert [p.name for p, _ in result.skipped] == ["song.wav"]
    assert "replace an input" in result.skipped[0][1]
    assert (folder / "song_vocals.wav").read_bytes() == protected


# --- model identification -----------------------------------------------------------------------------


def test_uvr_hash_is_md5_of_the_last_10000_kib(tmp_path):
    small, big = tmp_path / "small.onnx", tmp_path / "big.onnx"
    small.write_bytes(b"tiny model")
    data = np.random.default_rng(0).integers(0, 256, UVR_HASH_TAIL_BYTES + 12345, dtype=np.uint8).tobytes()
    big.write_bytes(data)
    assert uvr_model_hash(small) == hashlib.md5(b"tiny model").hexdigest()
    assert uvr_model_hash(big) == hashlib.md5(data[-UVR_HASH_TAIL_BYTES:]).hexdigest()


def test_parameter_table_is_consistent():
    for digest in UVR_MDX_PARAMS:
        p = params_for_hash(digest).validate()
        assert p.hop == 1024 and p.dim_t in (128, 256, 512)
    stems = [k.file_stem for k in KNOWN_MODELS]
    assert len(set(stems)) == len(stems)
    assert all(k.uvr_hash in UVR_MDX_PARAMS for k in KNOWN_MODELS)
    voc_ft = next(k for k in KNOWN_MODELS if k.file_stem == "UVR-MDX-NET-Voc_FT").params
    assert (voc_ft.n_fft, voc_ft.dim_f, voc_ft.dim_t, voc_ft.primary_stem) == (7680, 3072, 256, "Vocals")


def test_known_file_name_without_known_hash_uses_table_and_checks_shape(tmp_path, onnx_dir):
    renamed = tmp_path / "UVR-MDX-NET-Voc_FT.onnx"
    renamed.write_bytes((onnx_dir / "lowpass.onnx").read_bytes())
    info = identify_model(renamed)
    assert info.source == "file-name" and info.params.n_fft == 7680
    assert default_model(tmp_path).path == renamed
    # The tiny graph takes [B, 4, 1024, 32], not Voc_FT's [B, 4, 3072, 256]: refused on load.
    with pytest.raises(ModelError, match="takes input"):
        load_separator(renamed, SeparationOptions(device="cpu"))


def test_unknown_model_needs_parameters(models_dir):
    assert default_model(models_dir) is None  # unknown hash and name: not picked automatically
    with pytest.raises(ModelError, match="--n-fft"):
        load_separator("lowpass", SeparationOptions(device="cpu"), models_dir)
    with pytest.raises(ModelError, match="was not found"):
        load_separator("missing_model", SeparationOptions(), models_dir)


# --- CLI -------------------------------------------------------------------------------------------------


def test_cli_separates_a_real_file(tmp_path, models_dir, speak, capsys):
    voice, sr = speak("Separate me from the hum.")
    t = np.arange(voice.shape[0]) / sr
    src = tmp_path / "voice and hum.wav"
    sf.write(src, voice + 0.1 * np.sin(2 * np.pi * 100 * t).astype(np.float32), sr)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tools.separate", str(src), "-o", str(out), "--models-dir", str(models_dir)]
    cmd += ["--model", "lowpass", "--n-fft", "4096", "--dim-f", "1024", "--dim-t", "32", "--device", "cpu"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    vocals = out / "voice and hum_vocals.wav"
    assert str(vocals) in run.stdout
    data, out_sr = sf.read(vocals, always_2d=True)
    expected_len = soxr.resample(voice, sr, SR).shape[0]
    assert out_sr == SR and data.shape == (expected_len, 2)
    assert (out / "voice and hum_instrumental.wav").is_file()
    # Same command again, in-process (a second interpreter start is slow): outputs exist, file skipped.
    from tools.separate.__main__ import main

    assert main(cmd[3:]) == 2
    assert "already exists" in capsys.readouterr().out


def test_cli_lists_models(models_dir, capsys):
    from tools.separate.__main__ import main

    assert main(["--list-models", "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    assert "lowpass.onnx" in out and "unknown model" in out and "UVR-MDX-NET-Voc_FT.onnx" in out
