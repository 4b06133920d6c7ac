"""Tiny random-weight models saved in the official formats, laid out like a real ``pretrained/`` folder.

``make_tiny_home(root)`` writes ``root/pretrained/`` with the official file names (GPT ``.ckpt``, SoVITS
``s2G``/``s2D`` ``.pth``, ``chinese-hubert-base/``, ``chinese-roberta-wwm-ext-large/``) so that the engine,
CLI, batch runner and API run end to end in seconds. SoVITS keeps the real 32 kHz rate and 640-sample hop,
so durations are the real ones: 25 semantic tokens per second of audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

GPT_FILE = "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt"
SOVITS_FILE = "gsv-v2final-pretrained/s2G2333k.pth"
SOVITS_D_FILE = "gsv-v2final-pretrained/s2D2333k.pth"
HUBERT_DIR = "chinese-hubert-base"
BERT_DIR = "chinese-roberta-wwm-ext-large"
BERT_CHARS = "你好世界我们是中国人今天天气很不错的朋友一二三四五六七八九十银行工作长大,.!?，。！？"


@dataclass(frozen=True)
class TinyHome:
    root: Path
    pretrained: Path
    gpt: Path
    sovits: Path
    hubert: Path
    bert: Path


def gpt_config() -> dict:
    """An official-shaped GPT config (``s1longer-v2.yaml`` sections) for a 2-layer, 64-wide model."""
    return {
        "train": {"seed": 1234, "epochs": 15, "batch_size": 8, "save_every_n_epoch": 1, "precision": "32"},
        "optimizer": {
            "lr": 0.01,
            "lr_init": 1e-05,
            "lr_end": 0.0001,
            "warmup_steps": 2000,
            "decay_steps": 40000,
        },
        "data": {"max_eval_sample": 8, "max_sec": 54, "num_workers": 4, "pad_val": 1024},
        "model": {
            "vocab_size": 1025,
            "phoneme_vocab_size": 732,
            "embedding_dim": 64,
            "hidden_dim": 64,
            "head": 4,
            "linear_units": 256,
            "n_layer": 2,
            "dropout": 0,
            "EOS": 1024,
            "random_bert": 0,
        },
        "inference": {"top_k": 15},
    }


def sovits_config(version: str = "v2") -> dict:
    """An official-shaped ``s2.json`` for a small SoVITS at the real 32 kHz rate and 640-sample hop."""
    return {
        "train": {"seed": 1234, "epochs": 8, "learning_rate": 0.0001, "batch_size": 4, "segment_size": 20480},
        "data": {
            "max_wav_value": 32768.0,
            "sampling_rate": 32000,
            "filter_length": 2048,
            "hop_length": 640,
            "win_length": 2048,
            "n_mel_channels": 128,
            "mel_fmin": 0.0,
            "mel_fmax": None,
            "add_blank": True,
            "n_speakers": 300,
            "cleaned_text": True,
        },
        "model": {
            "inter_channels": 16,
            "hidden_channels": 32,
            "filter_channels": 64,
            "n_heads": 2,
            "n_layers": 2,
            "kernel_size": 3,
            "p_dropout": 0.1,
            "resblock": "1",
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3]],
            "upsample_rates": [10, 8, 4, 2],
            "upsample_initial_channel": 32,
            "upsample_kernel_sizes": [20, 16, 8, 4],
            "n_layers_q": 3,
            "use_spectral_norm": False,
            "gin_channels": 512,
            "semantic_frame_rate": "25hz",
            "freeze_quantizer": True,
            "version": version,
        },
    }


def _perturb(model: torch.nn.Module, seed: int) -> None:
    """Random biases, codebook and coupling outputs (upstream zero-inits some), so outputs are not silent."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 or p.abs().max() == 0 or name.endswith(("emb_rel_k", "emb_rel_v")):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("embed"):
                b.copy_(torch.randn(b.shape, generator=gen))


def save_tiny_gpt(path: Path, seed: int = 0) -> Path:
    from gpt_sovits.models.saving import save_gpt_file
    from gpt_sovits.models.t2s import T2SConfig, Text2SemanticModel

    torch.manual_seed(seed)
    cfg = gpt_config()
    model = Text2SemanticModel(T2SConfig.from_official(cfg))
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_gpt_file(path, model.state_dict(), cfg, version="v2", info="GPT-e0 (tiny test model)")


def save_tiny_sovits(path: Path, seed: int = 0, version: str = "v2", pretrained: bool = False) -> Path:
    """A tiny SoVITS generator file. ``pretrained=True`` writes it like the official pretrained ``s2G``
    files: the posterior encoder ``enc_q`` is kept (fine-tuning needs it); otherwise like a fine-tuned
    voice saved for inference (no ``enc_q``)."""
    from gpt_sovits.models.checkpoint import VERSION_HEADERS, ZIP_MAGIC
    from gpt_sovits.models.saving import save_sovits_file
    from gpt_sovits.models.sovits import SoVITSConfig, SoVITSSynthesizer

    torch.manual_seed(seed)
    cfg = sovits_config(version)
    model = SoVITSSynthesizer(SoVITSConfig.from_hparams(cfg, version=version))
    _perturb(model, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pretrained:
        return save_sovits_file(
            path, model.state_dict(), cfg, version=version, info="0epoch (tiny test model)"
        )
    import io

    weight = {k: v.detach().half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"weight": weight, "config": cfg, "info": "pretrained (tiny test model)"}, buffer)
    data = buffer.getvalue()
    path.write_bytes(VERSION_HEADERS.get(version, ZIP_MAGIC) + data[2:])
    return path


def save_tiny_discriminator(path: Path, seed: int = 0, version: str = "v2") -> Path:
    """A narrow (1/16 width) discriminator, stored as the official ``s2D`` files are (``{"weight": ...}``).

    Full width makes a CPU training step take seconds; the loader reads the width from the weights."""
    from gpt_sovits.models.sovits import SoVITSConfig
    from gpt_sovits.models.sovits.discriminator import MultiPeriodDiscriminator

    torch.manual_seed(seed + 1)
    cfg = SoVITSConfig.from_hparams(sovits_config(version), version=version)
    d = MultiPeriodDiscriminator.for_config(cfg, width_div=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": {k: v.half() for k, v in d.state_dict().items()}}, path)
    return path


def save_tiny_hubert(folder: Path, seed: int = 0) -> Path:
    """A one-layer HuBERT with the real 768-wide output (SoVITS's ssl_proj expects 768 channels)."""
    import transformers

    torch.manual_seed(seed)
    cfg = transformers.HubertConfig(
        hidden_size=768,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=16,
    )
    transformers.HubertModel(cfg).eval().save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A one-layer BERT with the real 1024-wide hidden states (the GPT's bert_proj expects 1024)."""
    import transformers

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(BERT_CHARS)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=1024,
        num_hidden_layers=2,  # hidden_states[-3] is then the embedding output
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.BertForMaskedLM(cfg).eval().save_pretrained(folder)
    return folder


def make_tiny_home(root: Path, seed: int = 0) -> TinyHome:
    """Write a complete tiny ``pretrained/`` under ``root`` (about 60 MB, a few seconds)."""
    pre = root / "pretrained"
    gpt = save_tiny_gpt(pre / GPT_FILE, seed)
    sovits = save_tiny_sovits(pre / SOVITS_FILE, seed, pretrained=True)
    save_tiny_discriminator(pre / SOVITS_D_FILE, seed)
    hubert = save_tiny_hubert(pre / HUBERT_DIR, seed)
    bert = save_tiny_bert(pre / BERT_DIR, seed)
    return TinyHome(root, pre, gpt, sovits, hubert, bert)


def write_speech(speak, path: Path, text: str) -> Path:
    """Real piper speech saved as a 16-bit wav (22.05 kHz, as piper makes it)."""
    import soundfile as sf

    audio, rate = speak(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, subtype="PCM_16")
    return path
