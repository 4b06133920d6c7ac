"""GPT training under DDP: two gloo processes on the CPU launched with torchrun.

Checks that both ranks end with identical weights, that rank 0 alone writes files and progress lines,
and that each rank ran its own half of every epoch's batches (the plan :func:`plan_epoch` makes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from train_data import synthetic_gpt_experiment

from gpt_sovits.training import gpt_data
from gpt_sovits.training.experiment import Experiment

REPO = Path(__file__).resolve().parents[1]
EPOCHS, BATCH = 3, 2

# Runs in every rank. It spies on what the trainer does (batches seen, files written) by wrapping the
# functions gpt_train calls, and dumps each rank's final weights for the comparison.
WORKER = """
import json, sys
from pathlib import Path
import torch
from gpt_sovits.settings import distributed_env
from gpt_sovits.training import gpt_train
from gpt_sovits.training.experiment import Experiment
from gpt_sovits.training.loop import init_distributed, make_context, shutdown_distributed
from gpt_sovits.training.runlog import RunLog

logs, out = Path(sys.argv[1]), Path(sys.argv[2])
ctx = make_context("cpu", "fp32", distributed_env())
init_distributed(ctx)
seen, writes, captured = [], {"ckpt": 0, "state": 0}, {}
real_collate, real_wrap = gpt_train.gpt_data.collate, gpt_train.wrap_ddp
real_ckpt, real_state = gpt_train.save_gpt_file, gpt_train.save_state

def collate(samples):
    seen.append([s.id for s in samples])
    return real_collate(samples)

def wrap(module, ctx, **kw):
    captured["module"] = module
    return real_wrap(module, ctx, **kw)

def ckpt(*a, **kw):
    writes["ckpt"] += 1
    return real_ckpt(*a, **kw)

def state(*a, **kw):
    writes["state"] += 1
    return real_state(*a, **kw)

gpt_train.gpt_data.collate, gpt_train.wrap_ddp = collate, wrap
gpt_train.save_gpt_file, gpt_train.save_state = ckpt, state
exp = Experiment(logs, "demo")
opts = gpt_train.GPTTrainOptions(exp="demo", epochs=%(epochs)d, batch_size=%(batch)d, lr=3e-3, warmup_steps=2,
                                 min_epoch_items=0, save_every=1)
with RunLog(exp.run_dir("gpt"), "gpt", main=ctx.is_main, tensorboard=False) as log:
    result = gpt_train.train_gpt(exp, opts, ctx, log)
rank = ctx.dist.rank
torch.save(captured["module"].state_dict(), out / f"rank{rank}.pt")
info = {"seen": seen, "writes": writes, "steps": result.steps, "losses": result.losses}
(out / f"rank{rank}.json").write_text(json.dumps(info))
shutdown_distributed(ctx)
"""


def _experiment(root: Path) -> Experiment:
    return synthetic_gpt_experiment(root, seed=1, phone_range=(6, 12))


def test_two_gloo_ranks_train_identically_and_split_the_batches(tmp_path):
    exp = _experiment(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER % {"epochs": EPOCHS, "batch": BATCH})
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["OMP_NUM_THREADS"] = "1"  # two ranks on a shared 2-core machine
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*cmd, str(script), str(exp.root.parent), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    w0, w1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    base = torch.load(exp.read_manifest().base_gpt, weights_only=True)["weight"]
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert any(not torch.equal(w0[k].half(), base[f"model.{k}"]) for k in w0)  # it did train
    state = torch.load(exp.run_dir("gpt") / "state.pt", weights_only=True)
    assert all(torch.equal(state["model"][k], w0[k]) for k in w0)

    # Rank 0 alone writes checkpoints, the state and the progress lines.
    assert r1["writes"] == {"ckpt": 0, "state": 0}
    # state.pt: written by rank 0 alone, at most every few minutes and always at the end
    assert r0["writes"]["ckpt"] == EPOCHS and r0["writes"]["state"] >= 1
    names = sorted(p.name for p in (exp.run_dir("gpt") / "checkpoints").iterdir())
    assert names == [f"demo-e{e}.ckpt" for e in range(1, EPOCHS + 1)]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events].count("start") == 1
    assert [e["event"] for e in events].count("progress") == r0["steps"]

    # Each rank ran every other batch of each epoch's global plan: half the batches.
    samples = gpt_data.load_gpt_samples(exp)
    lengths, ids = [s.codes.numel() for s in samples], [s.id for s in samples]
    plans = [gpt_data.plan_epoch(lengths, BATCH, seed=1234, epoch=e, world_size=2) for e in range(EPOCHS)]
    for rank, info in ((0, r0), (1, r1)):
        expected = [[ids[i] for i in b] for plan in plans for b in plan[rank::2]]
        assert info["seen"] == expected
    assert len(r0["seen"]) == len(r1["seen"]) == sum(len(p) for p in plans) // 2
    assert r0["steps"] == r1["steps"] == len(r0["seen"])
    assert r0["losses"] == r1["losses"]  # the logged losses are averaged over the ranks
