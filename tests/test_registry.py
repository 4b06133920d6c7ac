"""The model registry (load once, concurrency, LRU budget, reload on change) and the model catalog."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
import torch
from tiny_models import GPT_FILE, HUBERT_DIR, SOVITS_FILE, save_tiny_gpt, save_tiny_hubert, save_tiny_sovits

from gpt_sovits.device import choose_device
from gpt_sovits.models.loading import load_gpt
from gpt_sovits.models.t2s import Sampler, reference_generate
from gpt_sovits.registry import catalog
from gpt_sovits.registry.catalog import scan_models
from gpt_sovits.registry.layout import PRETRAINED_V2
from gpt_sovits.registry.registry import ModelRegistry, tensor_bytes
from gpt_sovits.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CPU = choose_device("cpu", "fp32")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """Tiny GPT, SoVITS and HuBERT saved once for the module in the official formats."""
    root = tmp_path_factory.mktemp("tiny")
    return {
        "gpt": save_tiny_gpt(root / "gpt.ckpt"),
        "sovits": save_tiny_sovits(root / "sovits.pth"),
        "hubert": save_tiny_hubert(root / "hubert"),
    }


def counting_loader(value_factory, calls: list, delay: float = 0.0):
    lock = threading.Lock()

    def load():
        with lock:
            calls.append(threading.get_ident())
        time.sleep(delay)
        return value_factory()

    return load


def run_threads(n: int, target) -> tuple[list, list[BaseException]]:
    """Start ``n`` threads behind a barrier so their calls overlap; collect results and errors."""
    barrier = threading.Barrier(n)
    results, errors, lock = [], [], threading.Lock()

    def body():
        barrier.wait()
        try:
            value = target()
            with lock:
                results.append(value)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=body) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results, errors


# ----------------------------------------------------------------------------------------- core behaviour
def test_construct_loads_nothing_and_import_does_no_work():
    probe = """
import json, torch
built = []
orig = torch.nn.Module.__init__
def counting(self, *a, **k):
    built.append(type(self).__name__)
    orig(self, *a, **k)
torch.nn.Module.__init__ = counting
loads = []
torch.load = lambda *a, **k: loads.append(a) or (_ for _ in ()).throw(RuntimeError("load"))
from gpt_sovits.device import choose_device
from gpt_sovits.registry.registry import ModelRegistry
import gpt_sovits.registry.catalog
reg = ModelRegistry(choose_device("cpu", "fp32"))
print(json.dumps({"built": built, "loads": len(loads), "loaded": len(reg.loaded()),
                  "used": reg.memory_used(), "budget": reg.budget_bytes}))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["built"] == [] and report["loads"] == 0
    assert report["loaded"] == 0 and report["used"] == 0
    import psutil

    assert report["budget"] == int(psutil.virtual_memory().total * 0.5)


def test_same_path_loads_once_and_returns_same_object(tiny):
    reg = ModelRegistry(CPU)
    first = reg.sovits(tiny["sovits"])
    again = reg.sovits(str(tiny["sovits"]))  # str vs Path, same file
    via_relative = reg.sovits(os.path.relpath(tiny["sovits"]))
    assert first is again is via_relative
    [entry] = reg.loaded()
    assert entry.uses == 3 and entry.kind == "sovits" and entry.path == tiny["sovits"].resolve()
    assert ("sovits", tiny["sovits"]) in reg and tiny["sovits"] in reg and ("gpt", tiny["sovits"]) not in reg


def test_concurrent_requests_share_one_load(tmp_path):
    reg = ModelRegistry(CPU)
    calls: list = []
    loader = counting_loader(lambda: torch.zeros(10), calls, delay=0.3)
    results, errors = run_threads(8, lambda: reg.get("thing", tmp_path / "a", loader))
    assert errors == []
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert reg.loaded()[0].uses == 8


def test_different_models_load_in_parallel(tmp_path):
    """Each loader waits for the other to start: with one lock held over loading this would time out."""
    reg = ModelRegistry(CPU)
    started = {"a": threading.Event(), "b": threading.Event()}
    overlapped = {}

    def make(name: str, other: str):
        def load():
            started[name].set()
            overlapped[name] = started[other].wait(timeout=5)
            return torch.ones(4)

        return load

    a = threading.Thread(target=lambda: reg.get("m", tmp_path / "a", make("a", "b")))
    b = threading.Thread(target=lambda: reg.get("m", tmp_path / "b", make("b", "a")))
    a.start(), b.start()
    a.join(10), b.join(10)
    assert overlapped == {"a": True, "b": True}
    assert len(reg.loaded()) == 2


def test_failing_load_raises_in_every_waiter_and_is_retried(tmp_path):
    reg = ModelRegistry(CPU)
    calls: list = []

    def broken():
        raise ValueError("damaged file")

    results, errors = run_threads(
        6, lambda: reg.get("m", tmp_path / "x", counting_loader(broken, calls, 0.3))
    )
    assert results == [] and len(errors) == 6
    assert all(isinstance(e, ValueError) and "damaged" in str(e) for e in errors)
    assert len(calls) == 1, "waiters must share the failed load, not start their own"
    assert ("m", tmp_path / "x") not in reg and reg.memory_used() == 0
    value = reg.get("m", tmp_path / "x", counting_loader(lambda: torch.zeros(3), calls))
    assert len(calls) == 2 and torch.equal(value, torch.zeros(3))


def test_lru_eviction_within_budget(tmp_path):
    reg = ModelRegistry(CPU, budget_bytes=1000)
    make = {name: (lambda: torch.zeros(100)) for name in "abcd"}  # 400 bytes each
    a = reg.get("m", tmp_path / "a", make["a"])
    reg.get("m", tmp_path / "b", make["b"])
    assert reg.memory_used() == 800
    assert reg.get("m", tmp_path / "a", make["a"]) is a  # a is now more recent than b
    reg.get("m", tmp_path / "c", make["c"])
    assert [e.path.name for e in reg.loaded()] == ["a", "c"]  # b, least recently used, went
    assert reg.memory_used() == 800 <= reg.budget_bytes
    reg.get("m", tmp_path / "d", make["d"])
    assert [e.path.name for e in reg.loaded()] == ["c", "d"]
    assert all(e.nbytes == 400 for e in reg.loaded())


def test_evicted_object_stays_usable_for_holders(tmp_path):
    reg = ModelRegistry(CPU, budget_bytes=500)
    held = reg.get("m", tmp_path / "a", lambda: torch.arange(100.0))
    reg.get("m", tmp_path / "b", lambda: torch.zeros(100))
    assert ("m", tmp_path / "a") not in reg
    assert float(held.sum()) == sum(range(100))  # the caller's reference still works
    calls: list = []
    reg.get("m", tmp_path / "a", counting_loader(lambda: torch.arange(100.0), calls))
    assert len(calls) == 1  # evicted entries are loaded again on request
    gone = weakref.ref(reg.get("m", tmp_path / "a", lambda: None))  # the cached tensor
    reg.unload(path=tmp_path / "a")
    gc.collect()
    assert gone() is None  # nobody held it, so unloading freed it


def test_oversized_entry_still_loads(tmp_path, caplog):
    reg = ModelRegistry(CPU, budget_bytes=1000)
    reg.get("m", tmp_path / "small", lambda: torch.zeros(50))
    with caplog.at_level(logging.WARNING, logger="gpt_sovits.registry.registry"):
        big = reg.get("m", tmp_path / "big", lambda: torch.zeros(1000))  # 4000 bytes
    assert big.numel() == 1000
    assert [e.path.name for e in reg.loaded()] == ["big"]
    assert reg.memory_used() == 4000
    assert any("more than the whole model budget" in r.getMessage() for r in caplog.records)


def test_nbytes_counts_shared_storage_once():
    weight = torch.zeros(10, 10)
    view = weight[2:5]
    shared = torch.nn.Linear(10, 10, bias=False)
    shared.weight = torch.nn.Parameter(weight)
    assert tensor_bytes({"m": shared, "v": view, "again": [weight]}) == 400
    assert tensor_bytes((weight, torch.ones(5, dtype=torch.float16))) == 410
    assert ModelRegistry(CPU).get("x", "/nonexistent/x", lambda: 7, nbytes=lambda v: v) == 7


# ---------------------------------------------------------------------------------------- real models
def test_file_changed_on_disk_is_reloaded(tmp_path):
    path = save_tiny_gpt(tmp_path / "voice.ckpt", seed=0)
    reg = ModelRegistry(CPU)
    first = reg.gpt(path)
    assert reg.gpt(path) is first
    os.replace(save_tiny_gpt(tmp_path / "retrained.ckpt", seed=1), path)  # a new model copied over it
    later = path.stat().st_mtime_ns + 2_000_000_000  # coarse file-system clocks: make the change visible
    os.utime(path, ns=(later, later))
    second = reg.gpt(path)
    assert second is not first and len(reg.loaded()) == 1
    fresh = load_gpt(path).module.state_dict()
    new_sd, old_sd = second.loaded.module.state_dict(), first.loaded.module.state_dict()
    assert all(torch.equal(new_sd[k], fresh[k]) for k in fresh)
    assert not all(torch.equal(old_sd[k], fresh[k]) for k in fresh)
    assert reg.gpt(path) is second


def test_loaded_report_unload_and_clear(tiny):
    reg = ModelRegistry(CPU)
    handle = reg.gpt(tiny["gpt"])
    sovits = reg.sovits(tiny["sovits"])
    hubert = reg.hubert(tiny["hubert"])
    entries = {e.kind: e for e in reg.loaded()}
    assert set(entries) == {"gpt", "sovits", "hubert"}
    assert [e.kind for e in reg.loaded()] == ["gpt", "sovits", "hubert"]  # least recently used first
    for kind in entries:
        e = entries[kind]
        assert e.path == tiny[kind].resolve() and e.device == "cpu" and e.dtype == "float32"
        assert e.nbytes > 0 and e.load_seconds > 0 and e.loaded_at <= e.last_used and e.uses == 1
    assert entries["sovits"].nbytes == sovits.parameter_bytes()
    hub_params = [*hubert.model.parameters(), *hubert.model.buffers()]
    assert entries["hubert"].nbytes == sum(t.numel() * t.element_size() for t in hub_params)
    dec = handle.decoder
    tables = [bag.table for layer in dec.tables for bag in layer] + [dec.predict_table.table]
    table_bytes = sum(t.numel() * t.element_size() for t in tables)
    assert table_bytes > 0
    assert entries["gpt"].nbytes == handle.loaded.parameter_bytes() + table_bytes
    assert reg.memory_used() == sum(e.nbytes for e in entries.values())

    assert reg.unload("gpt") == 1 and ("gpt", tiny["gpt"]) not in reg
    assert reg.unload(path=tiny["sovits"]) == 1
    assert reg.unload("gpt") == 0
    assert [e.kind for e in reg.loaded()] == ["hubert"]
    reg.clear()
    assert reg.loaded() == [] and reg.memory_used() == 0
    assert reg.gpt(tiny["gpt"]) is not handle  # loaded again after unloading


def test_lru_with_real_models(tiny):
    probe = ModelRegistry(CPU)
    gpt_bytes = tensor_bytes(probe.gpt(tiny["gpt"]))
    sovits_bytes = tensor_bytes(probe.sovits(tiny["sovits"]))
    reg = ModelRegistry(CPU, budget_bytes=sovits_bytes + gpt_bytes // 2)  # room for the SoVITS, not both
    reg.gpt(tiny["gpt"])
    reg.sovits(tiny["sovits"])
    assert [e.kind for e in reg.loaded()] == ["sovits"]
    assert reg.memory_used() == sovits_bytes <= reg.budget_bytes


def test_gpt_handle_decodes_like_the_reference(tiny):
    reg = ModelRegistry(CPU)
    handle = reg.gpt(tiny["gpt"])
    gen = torch.Generator().manual_seed(3)
    phones = torch.randint(0, 732, (9,), generator=gen)
    bert = torch.randn(1024, 9, generator=gen)
    prompt = torch.randint(0, 1024, (6,), generator=gen)
    sampler = Sampler.official(top_k=1, min_new_tokens=12, max_new_tokens=12)  # greedy, fixed length
    [fast] = handle.decoder.generate([phones], [bert], [prompt], sampler)
    slow = reference_generate(handle.loaded.module, phones, bert, prompt, sampler)
    assert fast.shape == (12,) and torch.equal(fast, slow)


def test_cpu_gpt_weight_dtype_option(tiny):
    reg = ModelRegistry(CPU, cpu_gpt_weight_dtype=torch.bfloat16)
    handle = reg.gpt(tiny["gpt"])
    assert handle.decoder.weight_dtype == torch.bfloat16
    assert handle.decoder.predict_table.table.dtype == torch.bfloat16
    assert next(handle.loaded.module.parameters()).dtype == torch.float32  # the module stays fp32
    [entry] = reg.loaded()
    assert entry.dtype == "float32+bfloat16"


def test_cpu_half_precision_is_the_fast_cpu_mode(tiny):
    from gpt_sovits.device import choose_device

    reg = ModelRegistry(choose_device("cpu", "bf16"))
    handle = reg.gpt(tiny["gpt"])
    assert handle.decoder.weight_dtype == torch.float16  # fp16 tables: same bytes as bf16, more precise
    assert next(handle.loaded.module.parameters()).dtype == torch.float32
    assert ModelRegistry(choose_device("cpu")).gpt(tiny["gpt"]).decoder.weight_dtype == torch.float32
    sovits = reg.sovits(tiny["sovits"])
    assert sovits.module.dec.conv_pre.weight.dtype == torch.bfloat16  # only the HiFi-GAN decoder
    assert sovits.module.enc_p.ssl_proj.weight.dtype == torch.float32


# --------------------------------------------------------------------------------------------- catalog
def test_catalog_lists_missing_pretrained_items(tmp_path):
    settings = Settings(pretrained_dir=tmp_path / "pretrained", voices_dir=tmp_path / "voices")
    found = scan_models(settings, identify=True)
    assert len(found) == len(PRETRAINED_V2)
    assert [f.path for f in found] == [settings.pretrained_dir / item.path for item in PRETRAINED_V2]
    assert all(f.source == "pretrained" and not f.present and f.size == 0 for f in found)
    assert {f.kind for f in found} >= {"gpt", "sovits", "hubert", "bert"}


def test_catalog_present_voice_user_and_corrupt_files(tmp_path, tiny):
    pre, voices = tmp_path / "pretrained", tmp_path / "voices"
    (pre / GPT_FILE).parent.mkdir(parents=True)
    shutil.copy(tiny["gpt"], pre / GPT_FILE)
    shutil.copy(tiny["sovits"], pre / SOVITS_FILE)
    shutil.copytree(tiny["hubert"], pre / HUBERT_DIR)
    (voices / "alice").mkdir(parents=True)
    shutil.copy(tiny["gpt"], voices / "alice" / "alice-e15.ckpt")
    shutil.copy(tiny["sovits"], voices / "alice" / "alice_e8_s96.pth")
    (voices / "stray.pth").write_bytes(b"not in a voice folder")
    (pre / "user" / "mine").mkdir(parents=True)
    shutil.copy(tiny["sovits"], pre / "user" / "mine" / "odd_name.ckpt")  # a SoVITS with a GPT suffix
    (pre / "user" / "broken.pth").write_bytes(b"PK\x03\x04 this is not a real archive" * 4)
    settings = Settings(pretrained_dir=pre, voices_dir=voices)

    quick = {f.path: f for f in scan_models(settings)}
    assert quick[pre / GPT_FILE].present and quick[pre / GPT_FILE].size == tiny["gpt"].stat().st_size
    assert quick[pre / HUBERT_DIR].present and quick[pre / HUBERT_DIR].kind == "hubert"
    assert quick[pre / HUBERT_DIR].size == sum(p.stat().st_size for p in tiny["hubert"].rglob("*"))
    assert quick[pre / "user" / "mine" / "odd_name.ckpt"].kind == "gpt"  # suffix guess without reading
    assert all(f.version is None for f in quick.values())
    assert voices / "stray.pth" not in quick

    found = {f.path: f for f in scan_models(settings, identify=True)}
    assert set(found) == set(quick)
    expect = {
        pre / GPT_FILE: ("gpt", "v2", "pretrained"),
        pre / SOVITS_FILE: ("sovits", "v2", "pretrained"),
        voices / "alice" / "alice-e15.ckpt": ("gpt", "v2", "voice"),
        voices / "alice" / "alice_e8_s96.pth": ("sovits", "v2", "voice"),
        pre / "user" / "mine" / "odd_name.ckpt": ("sovits", "v2", "user"),
        pre / "user" / "broken.pth": ("unknown", None, "user"),
    }
    for path, (kind, version, source) in expect.items():
        f = found[path]
        assert (f.kind, f.version, f.source, f.present) == (kind, version, source, True), path
    missing = [f for f in found.values() if not f.present]
    assert {f.kind for f in missing} == {"sovits_discriminator", "bert", "speaker_eres2netv2"}


def test_catalog_identify_cache(tmp_path, tiny, monkeypatch):
    voices = tmp_path / "voices"
    (voices / "bob").mkdir(parents=True)
    target = voices / "bob" / "bob.ckpt"
    shutil.copy(tiny["gpt"], target)
    settings = Settings(pretrained_dir=tmp_path / "pretrained", voices_dir=voices)
    reads: list[Path] = []
    real = catalog.read_checkpoint
    monkeypatch.setattr(catalog, "read_checkpoint", lambda p: reads.append(Path(p)) or real(p))
    scan_models(settings, identify=True)
    scan_models(settings, identify=True)
    assert reads == [target]  # the second scan used the cache
    later = target.stat().st_mtime_ns + 2_000_000_000
    os.utime(target, ns=(later, later))
    scan_models(settings, identify=True)
    assert reads == [target, target]  # a changed file is read again
