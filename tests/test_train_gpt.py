"""GPT fine-tuning: learning, official checkpoints, exact resume, cancel, DPO, and the loop helpers.

The dataset is synthetic but learnable (each phone determines its two codes), seeded, 8 clips, with the
tiny 2-layer GPT of ``tiny_models``; the whole file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import io
import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from train_data import synthetic_gpt_experiment

from gpt_sovits.models.loading import load_gpt
from gpt_sovits.training import gpt_data
from gpt_sovits.training.experiment import Experiment
from gpt_sovits.training.gpt_train import (
    GPTTrainingError,
    GPTTrainOptions,
    compute_loss,
    dpo_term,
    sequence_logp,
    train_gpt,
)
from gpt_sovits.training.loop import (
    StopFlag,
    TrainingError,
    load_state,
    make_context,
    rng_state,
    save_state,
    set_rng_state,
    warmup_cosine,
)
from gpt_sovits.training.runlog import RunLog

N_ITEMS = 8
FAST = dict(batch_size=4, lr=3e-3, warmup_steps=5, min_epoch_items=0, save_every=100)


def build_experiment(root: Path, name: str = "demo", seed: int = 0) -> Experiment:
    """8 clips whose codes follow from their phones (see train_data.synthetic_gpt_experiment)."""
    return synthetic_gpt_experiment(root, name, seed, items=N_ITEMS)


def run(exp: Experiment, options: GPTTrainOptions, log_cls=RunLog, stop=None):
    out = io.StringIO()
    with log_cls(exp.run_dir("gpt"), "gpt", stream=out, tensorboard=False) as log:
        result = train_gpt(exp, options, make_context("cpu", "fp32"), log, stop=stop or StopFlag())
    return result, [json.loads(line) for line in out.getvalue().splitlines()]


def mean_token_ce(module: torch.nn.Module, exp: Experiment) -> float:
    """Reference path: every clip alone (batch of one), cross entropy per target token."""
    total, count = 0.0, 0
    module.eval()
    with torch.no_grad():
        for s in gpt_data.load_gpt_samples(exp):
            b = gpt_data.collate([s])
            out = module(b.phones, b.phone_lens, b.codes, b.code_lens, b.bert)
            total += out.loss.item()
            count += s.codes.numel() + 1
    return total / count


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 40-step run (lr 6e-3: a tiny random model learns fast) shared by the learning/checkpoint tests."""
    exp = build_experiment(tmp_path_factory.mktemp("learn"))
    opts = GPTTrainOptions(exp="demo", epochs=20, **{**FAST, "lr": 6e-3, "save_every": 10})
    result, events = run(exp, opts)
    return exp, result, events


def test_loss_goes_down_and_every_parameter_changes(trained):
    exp, result, events = trained
    assert result.steps == 40 and len(result.losses) == 40 and not result.cancelled
    base = load_gpt(exp.read_manifest().base_gpt).module
    final = load_gpt(result.checkpoints[-1]).module
    before, after = mean_token_ce(base, exp), mean_token_ce(final, exp)
    assert after < 0.25 * before, (before, after)
    state = load_state(exp.run_dir("gpt") / "state.pt")
    for name, p in base.named_parameters():
        assert not torch.equal(p, state["model"][name]), f"{name} did not change"
    assert [e["event"] for e in events].count("progress") == 40
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"


def test_checkpoints_have_the_official_layout(trained, compat_dir):
    exp, result, events = trained
    ckdir = exp.run_dir("gpt") / "checkpoints"
    assert [p.name for p in result.checkpoints] == ["demo-e10.ckpt", "demo-e20.ckpt"]
    assert sorted(ckdir.iterdir()) == sorted(result.checkpoints)
    raw = torch.load(result.checkpoints[-1], map_location="cpu", weights_only=True)
    base = torch.load(exp.read_manifest().base_gpt, map_location="cpu", weights_only=True)
    assert {"weight", "config", "info"} <= set(raw)
    assert raw["config"] == base["config"] and raw["info"] == "GPT-e20"
    assert list(raw["weight"]) == list(base["weight"])
    assert all(v.dtype == torch.float16 for v in raw["weight"].values())
    official = json.loads((compat_dir / "state_dict_manifests.json").read_text())["gpt_v2"]
    layer0 = {k for k in official if not k.startswith("model.h.layers.") or k.startswith("model.h.layers.0.")}
    ours = {
        k for k in raw["weight"] if not k.startswith("model.h.layers.") or k.startswith("model.h.layers.0.")
    }
    assert ours == layer0
    state = load_state(exp.run_dir("gpt") / "state.pt")
    loaded = load_gpt(result.checkpoints[-1]).module.state_dict()
    for k, v in loaded.items():  # the file holds the trained weights (to fp16 precision)
        assert torch.allclose(v, state["model"][k].half().float()), k
    saved = [e["path"] for e in events if e["event"] == "checkpoint"]
    assert saved == [str(p) for p in result.checkpoints]


def test_resume_after_cancel_matches_an_uninterrupted_run(tmp_path):
    opts = GPTTrainOptions(exp="demo", epochs=6, **FAST)  # 2 steps per epoch, 12 steps
    exp_a = build_experiment(tmp_path / "a")
    full, _ = run(exp_a, opts)

    exp_b = build_experiment(tmp_path / "b")
    stop = StopFlag()

    class CancelAt5(RunLog):
        def progress(self, **kw):
            super().progress(**kw)
            if kw["step"] == 5:  # mid-epoch (epoch 3, first of its two steps)
                stop.request()

    part, events = run(exp_b, opts, CancelAt5, stop)
    assert part.cancelled and part.steps == 5
    assert events[-1] == {"event": "cancelled", "kind": "gpt", "epoch": 3, "step": 5}
    saved = load_state(exp_b.run_dir("gpt") / "state.pt")
    assert (saved["epoch"], saved["step"]) == (2, 5)

    rest, events = run(exp_b, opts)
    assert rest.steps == 12 and len(rest.losses) == 7
    assert [e["step"] for e in events if e["event"] == "progress"] == list(range(6, 13))
    assert part.losses + rest.losses == pytest.approx(full.losses, rel=0, abs=0)
    a = load_state(exp_a.run_dir("gpt") / "state.pt")["model"]
    b = load_state(exp_b.run_dir("gpt") / "state.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    again, events = run(exp_b, opts)  # finished: nothing more to do
    assert again.steps == 12 and again.losses == []
    restarted, _ = run(exp_b, replace(opts, restart=True, max_steps=2))
    assert restarted.steps == 2


def test_changed_dataset_refuses_to_resume(tmp_path):
    exp = build_experiment(tmp_path)
    opts = GPTTrainOptions(exp="demo", epochs=1, **FAST)
    run(exp, opts)
    feats = exp.load_features(exp.items()[0])
    exp.append_item(replace(exp.items()[0], id="extra", file="items/extra.pt"), feats)
    with pytest.raises(GPTTrainingError, match="--restart"):
        run(exp, opts)


def test_sigterm_sets_the_flag_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as stop:
        assert not stop.requested
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):  # a second signal forces the stop
            signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_corrupted_codes_are_a_span_repeated_or_deleted():
    g = torch.Generator().manual_seed(3)
    kinds = set()
    for trial in range(200):
        n = 1 + trial % 12
        codes = torch.randperm(200)[:n]  # distinct values: the corruption is identifiable
        rej, kind = gpt_data.corrupt_codes(codes, g)
        kinds.add(kind)
        assert not torch.equal(rej, codes)
        c, r = codes.tolist(), rej.tolist()
        if kind == "repeat":
            ok = any(
                r == c[: i + s] + c[i : i + s] + c[i + s :] for i in range(n) for s in range(1, n - i + 1)
            )
        else:
            ok = len(r) >= 1 and any(r == c[:i] + c[i + s :] for i in range(n) for s in range(1, n - i + 1))
        assert ok, (c, r, kind)
    assert kinds == {"repeat", "delete"}


def test_dpo_loss_matches_separate_forward_passes(tmp_path):
    exp = build_experiment(tmp_path)
    model = load_gpt(exp.read_manifest().base_gpt).module.eval()  # no dropout: paths comparable
    batch = gpt_data.collate(gpt_data.load_gpt_samples(exp)[:4])
    ctx = make_context("cpu", "fp32")
    loss, parts = compute_loss(model, batch, ctx, torch.Generator().manual_seed(7))
    # Reference: chosen and rejected batches through the model separately.
    rej, rej_lens, _ = gpt_data.make_rejected(batch.codes, batch.code_lens, torch.Generator().manual_seed(7))
    chosen = model(batch.phones, batch.phone_lens, batch.codes, batch.code_lens, batch.bert)
    rejected = model(batch.phones, batch.phone_lens, rej, rej_lens, batch.bert)
    assert parts["ce"] == pytest.approx(chosen.loss.item(), rel=1e-5)
    lp_c = sequence_logp(chosen.logits, chosen.targets, batch.code_lens)
    lp_r = sequence_logp(rejected.logits, rejected.targets, rej_lens)
    ref = -torch.nn.functional.logsigmoid(0.2 * (lp_c - lp_r)).mean()
    assert parts["dpo"] == pytest.approx(ref.item(), rel=1e-4)
    assert dpo_term(lp_c, lp_r).item() == pytest.approx(ref.item(), rel=1e-6)
    assert loss.item() == pytest.approx(parts["ce"] + parts["dpo"], rel=1e-6)


def test_dpo_training_runs_with_finite_losses(tmp_path):
    exp = build_experiment(tmp_path)
    result, events = run(exp, GPTTrainOptions(exp="demo", epochs=3, dpo=True, **FAST))
    progress = [e for e in events if e["event"] == "progress"]
    assert len(progress) == 6
    assert all(set(e["losses"]) >= {"loss", "ce", "dpo"} for e in progress)
    assert all(e["losses"]["dpo"] is not None and e["losses"]["dpo"] > 0 for e in progress)


def test_epoch_plan_is_seeded_complete_and_split_by_rank():
    lengths = [int(x) for x in torch.randint(5, 50, (23,), generator=torch.Generator().manual_seed(0))]
    for bs, repeat, world in [(4, 1, 1), (3, 2, 2), (8, 5, 2), (1, 1, 3)]:
        plan = gpt_data.plan_epoch(lengths, bs, seed=1, epoch=2, repeat=repeat, world_size=world)
        assert plan == gpt_data.plan_epoch(lengths, bs, seed=1, epoch=2, repeat=repeat, world_size=world)
        assert plan != gpt_data.plan_epoch(lengths, bs, seed=1, epoch=3, repeat=repeat, world_size=world)
        assert len(plan) % world == 0
        per_rank = gpt_data.batches_per_epoch(len(lengths), bs, repeat, world)
        shares = [gpt_data.rank_batches(plan, r, world) for r in range(world)]
        assert all(len(s) == per_rank for s in shares)
        seen = sorted(i for share in shares for b in share for i in b)
        assert sorted(set(seen)) == list(range(len(lengths)))
        assert all(len(b) <= bs for b in plan)


def test_loop_helpers(tmp_path):
    # "auto" on the CPU: bf16 autocast exactly where the CPU computes bf16 natively, else fp32.
    from gpt_sovits.training.loop import _cpu_has_native_bf16

    assert make_context("cpu").precision == ("bf16" if _cpu_has_native_bf16() else "fp32")
    assert make_context("cpu", "fp32").precision == "fp32"
    with pytest.raises(TrainingError, match="CUDA"):
        make_context("cpu", "fp16")
    ctx = make_context("cpu", "fp32")
    with ctx.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    # RNG state survives the safe loader.
    state = rng_state()
    first = torch.rand(3)
    save_state(tmp_path / "s.pt", {"rng": state, "step": 3})
    loaded = load_state(tmp_path / "s.pt")
    set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(3), first) and loaded["step"] == 3
    assert load_state(tmp_path / "missing.pt") is None
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(TrainingError, match="--restart"):
        load_state(tmp_path / "bad.pt")
    # Warmup is linear, then cosine to the floor.
    f = [warmup_cosine(i, warmup=4, total=20, floor=0.1) for i in range(25)]
    assert f[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f[4] == pytest.approx(1.0) and f[20] == pytest.approx(0.1) and f[24] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[4:], f[5:], strict=False))


def test_cpu_bf16_autocast_trains_fp32_weights(tmp_path):
    exp = build_experiment(tmp_path)
    ctx = make_context("cpu", "bf16")
    assert ctx.precision == "bf16"
    out = io.StringIO()
    with RunLog(exp.run_dir("gpt"), "gpt", stream=out, tensorboard=False) as log:
        result = train_gpt(exp, GPTTrainOptions(exp="demo", epochs=2, **FAST), ctx, log, stop=StopFlag())
    assert result.steps == 4 and all(torch.isfinite(torch.tensor(result.losses)))
    state = load_state(exp.run_dir("gpt") / "state.pt")
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())
