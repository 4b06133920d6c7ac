"""The Voices and Models tabs: library actions through the tab's handlers (files kept, nothing lost), the
model tables over a tiny pretrained set and a loaded model, download and import jobs through the real CLI
(``--progress json``) against a fake hub on loopback, and both tabs served with their element ids."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

from fake_hub import FakeHub  # noqa: E402
from tiny_models import make_tiny_home, save_tiny_gpt, save_tiny_sovits, write_speech  # noqa: E402
from ui_helpers import elem_ids, free_port, served_config  # noqa: E402

from gpt_sovits import cli  # noqa: E402
from gpt_sovits.fileio import size_text  # noqa: E402
from gpt_sovits.registry import layout  # noqa: E402
from gpt_sovits.settings import load_settings  # noqa: E402
from gpt_sovits.ui import models_tab, voices_tab  # noqa: E402
from gpt_sovits.ui.common import readable  # noqa: E402
from gpt_sovits.ui.context import AppContext  # noqa: E402
from gpt_sovits.ui.i18n import I18n  # noqa: E402

REF_TEXT = "Please call Stella and ask her to bring these things with her from the store."
CONSENT = "Synthetic test voice made by piper for these tests; no real person."
t = I18n("en_US")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # urllib (here and in the CLI children, which inherit this environment) must reach loopback directly.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def assets(tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("assets")
    return {
        "gpt": save_tiny_gpt(root / "alice-e15.ckpt"),
        "sovits": save_tiny_sovits(root / "alice_e8_s96.pth"),
        "ref": write_speech(speak, root / "ref.wav", REF_TEXT),
    }


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    return make_tiny_home(tmp_path_factory.mktemp("tiny"))


def make_ctx(home: Path, **env: str) -> AppContext:
    return AppContext.create(load_settings({"GPT_SOVITS_HOME": str(home), **env}), "cpu")


def add_voice(ctx: AppContext, assets, name: str, **kw):
    return ctx.voices.create(
        name,
        gpt=assets["gpt"],
        sovits=assets["sovits"],
        references=[assets["ref"]],
        ref_text=REF_TEXT,
        consent=CONSENT,
        **kw,
    )


def digests(voice) -> dict[str, str]:
    """SHA-256 of every file of a voice, read from disk now."""
    return {m: hashlib.sha256((voice.folder / m).read_bytes()).hexdigest() for m in voice.sha256}


def rows(view) -> list[list]:
    return view[0].values.tolist()


# -- Voices tab ---------------------------------------------------------------------------------------------
def test_voice_library_actions_keep_every_file(tmp_path, assets):
    ctx = make_ctx(tmp_path)
    alice = add_voice(ctx, assets, "Alice", dictionary=['{"GIF": "JH IH1 F"}'])
    add_voice(ctx, assets, "Bob")
    original = digests(alice)
    assert original == dict(alice.sha256)

    table, names, trash = voices_tab.library_view(ctx, t, None)
    assert [r[:3] for r in table.values.tolist()] == [["Alice", "v2", "auto"], ["Bob", "v2", "auto"]]
    assert [r[6] for r in table.values.tolist()] == ["yes", "no"]
    assert table.values.tolist()[0][3].startswith("Please call Stella") and table.values.tolist()[0][
        3
    ].endswith("…")
    assert list(table.columns)[0] == t("voices.col.name")
    assert names["choices"] == ["Alice", "Bob"] and names["value"] == "Alice" and trash["choices"] == []
    assert voices_tab.row_name(table.values.tolist()[1]) == "Bob"

    sample, info = voices_tab.voice_detail(ctx, t, "Alice")
    assert Path(sample).read_bytes() == assets["ref"].read_bytes()
    assert "alice-e15.ckpt" in info and "dictionary.jsonl" in info and "match their saved checksums" in info
    saved = (alice.folder / "dictionary.jsonl").read_bytes()
    (alice.folder / "dictionary.jsonl").write_text('{"GIF": "G IH1 F"}\n')  # damage it: the info shows it
    assert "SHA-256 mismatch" in voices_tab.voice_detail(ctx, t, "Alice")[1]
    (alice.folder / "dictionary.jsonl").write_bytes(saved)

    with pytest.raises(ValueError, match="new name"):
        voices_tab.rename_voice(ctx, t, "Alice", "  ")
    view = voices_tab.rename_voice(ctx, t, "Alice", "Alicia")
    assert view[1]["value"] == "Alicia" and view[3] == "" and [r[0] for r in rows(view)] == ["Alicia", "Bob"]
    assert digests(ctx.voices.get("Alicia")) == original

    view = voices_tab.duplicate_voice(ctx, t, "Alicia", "")
    assert view[1]["value"] == "Alicia (copy)"
    view = voices_tab.duplicate_voice(ctx, t, "Alicia", "")
    assert view[1]["value"] == "Alicia (copy 2)"
    assert digests(ctx.voices.get("Alicia (copy 2)")) == original

    view = voices_tab.delete_voice(ctx, t, "Bob")
    assert "Bob" not in view[1]["choices"] and view[2]["choices"][0][0].startswith("Bob · ")
    bob_id = view[2]["value"]
    view = voices_tab.restore_voice(ctx, t, bob_id, "")
    assert view[1]["value"] == "Bob" and view[2]["choices"] == []

    # Restoring under a name that is taken again asks for a new name, then uses it; nothing is replaced.
    voices_tab.delete_voice(ctx, t, "Alicia (copy)")
    voices_tab.duplicate_voice(ctx, t, "Alicia", "Alicia (copy)")
    trash_id = ctx.voices.trash()[0].id
    with pytest.raises(gr.Error, match="Type another name"):
        readable(t)(voices_tab.restore_voice)(ctx, t, trash_id, "")
    view = voices_tab.restore_voice(ctx, t, trash_id, "Alicia (old copy)")
    assert (
        view[1]["value"] == "Alicia (old copy)" and digests(ctx.voices.get("Alicia (old copy)")) == original
    )
    assert len(ctx.voices.list()) == 5 and ctx.voices.trash() == []


def test_export_and_import_and_malicious_zip(tmp_path, assets):
    ctx = make_ctx(tmp_path)
    alice = add_voice(ctx, assets, "Alice")
    with pytest.raises(gr.Error, match="Select a voice"):
        readable(t)(voices_tab.export_voice)(ctx, t, None)
    first = Path(voices_tab.export_voice(ctx, t, "Alice"))
    second = Path(voices_tab.export_voice(ctx, t, "Alice"))
    exports = ctx.settings.logs_dir / "webui" / "exports"
    assert first != second and first.parent == second.parent == exports and first.suffix == ".zip"
    assert first.read_bytes() and first.is_file() and second.is_file()  # the first export was not replaced

    with pytest.raises(gr.Error, match="already exists.*another name"):
        readable(t)(voices_tab.import_voice)(ctx, t, str(first), "")
    view = voices_tab.import_voice(ctx, t, str(first), "Alice imported")
    assert view[1]["value"] == "Alice imported" and view[3] == ""
    assert digests(ctx.voices.get("Alice imported")) == dict(alice.sha256)

    bad = tmp_path / "bad.zip"
    bad.write_bytes(first.read_bytes())
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr(zipfile.ZipInfo("../../evil.txt"), b"x")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "user_voices").rglob("*"))
    with pytest.raises(gr.Error, match=r"'\.\.'") as err:
        readable(t)(voices_tab.import_voice)(ctx, t, str(bad), "Mallory")
    assert "Traceback" not in str(err.value)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "user_voices").rglob("*")) == before
    assert not list(tmp_path.rglob("evil.txt")) and [v.name for v in ctx.voices.list()] == [
        "Alice",
        "Alice imported",
    ]


# -- Models tab ---------------------------------------------------------------------------------------------
def test_model_tables_loaded_models_and_unload(tiny_home, assets, tmp_path):
    ctx = make_ctx(tiny_home.root)
    voice = add_voice(ctx, assets, f"Voice {tmp_path.name}")
    gone = add_voice(ctx, assets, f"Gone {tmp_path.name}")
    ctx.voices.delete(gone.name)
    ctx.registry.clear()
    status, installed, loaded, memory, which = models_tab.model_tables(ctx, t)
    # The tiny home has all of the v2 set but the speaker encoder (only v2Pro voices need it).
    assert layout.pretrained_item("sv").path in status and "s2G2333k.pth" not in status
    by_path = {r[3]: r for r in installed.values.tolist()}
    assert by_path[str(tiny_home.gpt)][:3] == ["pretrained", "gpt", "v2"]
    assert by_path[str(tiny_home.sovits)][:3] == ["pretrained", "sovits", "v2"]
    assert by_path[str(voice.sovits_path)][:3] == ["voice", "sovits", "v2"]
    assert by_path[str(voice.gpt_path)][:3] == ["voice", "gpt", "v2"]
    assert not any(".trash" in p for p in by_path)  # a deleted voice's files are not "installed"
    sv = str(ctx.settings.pretrained_dir / layout.pretrained_item("sv").path)
    assert by_path[sv][4] == "missing"
    assert loaded.empty and which["choices"] == [] and "cpu" in memory and "RAM" in memory

    ctx.registry.gpt(tiny_home.gpt)
    ctx.registry.sovits(voice.sovits_path)
    _, _, loaded, memory, which = models_tab.model_tables(ctx, t)
    assert sorted(loaded.values[:, 0].tolist()) == ["gpt", "sovits"]
    row = loaded.values.tolist()[0]
    assert row[1] == str(tiny_home.gpt.resolve()) and row[2] == "cpu" and row[4] > 0 and row[5] == 1
    assert "2 loaded" in memory
    assert len(which["choices"]) == 2
    _, _, loaded, _, which = models_tab.unload_one(ctx, t, which["choices"][0][1])
    assert loaded.values[:, 0].tolist() == ["sovits"] and ("gpt", tiny_home.gpt) not in ctx.registry
    ctx.registry.gpt(tiny_home.gpt)
    _, _, loaded, memory, which = models_tab.unload_all(ctx, t)
    assert loaded.empty and len(ctx.registry) == 0 and which["choices"] == [] and "0 loaded" in memory
    with pytest.raises(gr.Error, match="Choose a loaded model"):
        readable(t)(models_tab.unload_one)(ctx, t, None)


def test_import_one_model_file(tmp_path, assets):
    ctx = make_ctx(tmp_path)
    message, _, installed, *_ = models_tab.import_file(ctx, t, str(assets["sovits"]))
    dest = ctx.settings.pretrained_dir / "user" / assets["sovits"].name
    assert dest.read_bytes() == assets["sovits"].read_bytes() and str(dest) in message
    assert [r[:3] for r in installed.values.tolist() if r[3] == str(dest)] == [["imported", "sovits", "v2"]]
    assert models_tab.import_file(ctx, t, str(assets["sovits"]))[0].startswith("Already there")
    bad = tmp_path / "notes.pth"
    bad.write_text("not a model")
    with pytest.raises(gr.Error, match="not a GPT-SoVITS model file"):
        readable(t)(models_tab.import_file)(ctx, t, str(bad))
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]


def tiny_repo() -> dict[str, bytes]:
    """The v2 set as a few KB of bytes (the downloader checks hashes, not content)."""
    files: dict[str, bytes] = {}
    for i, item in enumerate(layout.PRETRAINED_V2):
        if item.is_dir:
            files[f"{item.path}/config.json"] = b'{"model_type": "bert"}\n'
            files[f"{item.path}/pytorch_model.bin"] = bytes([i]) * 3000
            files[f"{item.path}/vocab.txt"] = b"[PAD]\n[UNK]\n"
        else:
            files[item.path] = os.urandom(2000 + 1000 * i)
    files["s2G488k.pth"] = b"not requested"
    return files


def test_download_job_with_progress_from_settings_endpoint(tmp_path, monkeypatch):
    repo = tiny_repo()
    with FakeHub(repo) as hub:
        ctx = make_ctx(tmp_path, HF_ENDPOINT=hub.url)
        job_id = models_tab.start_download(ctx, t, "v2", hub.url + "/")  # the setting's value: no --endpoint
        job = ctx.jobs.get(job_id)
        assert "--endpoint" not in job.snapshot().argv and "--progress" in job.snapshot().argv
        status = job.wait(timeout=120)
        assert status.status == "done", status.log_tail
        events = job.events_since(0)
    wanted = sorted(p for p in repo if p != "s2G488k.pth")
    total = sum(len(repo[p]) for p in wanted)
    assert events[0] == {
        "event": "start",
        "kind": "download",
        "steps": total,
        "files": len(wanted),
        "run_dir": str(ctx.settings.pretrained_dir),
    }
    progress = [e for e in events if e["event"] == "progress"]
    assert {e["steps"] for e in progress} == {total} and progress[-1]["step"] == total
    assert [e["step"] for e in progress] == sorted(e["step"] for e in progress)
    finals = {e["file"]: (e["file_step"], e["file_steps"]) for e in progress}
    assert finals == {p: (len(repo[p]), len(repo[p])) for p in wanted}
    assert events[-1]["event"] == "done" and events[-1]["downloaded"] == len(wanted)
    for p in wanted:
        assert (ctx.settings.pretrained_dir / p).read_bytes() == repo[p]
    assert not (ctx.settings.pretrained_dir / "s2G488k.pth").exists()

    html, _, seen, timer, status_md, installed, *_ = models_tab.follow(ctx, t, job_id, "running")
    assert 'data-status="done"' in html and seen == "done" and timer.active is False
    assert t("job.bytes", done=size_text(total), total=size_text(total)) in html  # bytes, not "steps"
    assert status_md == t("models.all_present", folder=str(ctx.settings.pretrained_dir))
    assert "missing" not in installed.values[:, 4].tolist()
    again = models_tab.follow(ctx, t, job_id, "done")  # already seen finished: tables left alone
    assert all(isinstance(x, dict) and x.get("__type__") == "update" for x in again[4:])
    attached = models_tab.attach(ctx, t)
    assert attached[0] == job_id and attached[3] == "done" and attached[4].active is False


def test_download_endpoint_field_and_errors(tmp_path, monkeypatch):
    ctx = make_ctx(tmp_path, HF_ENDPOINT="https://huggingface.co")
    started: list[tuple] = []
    monkeypatch.setattr(ctx, "start_module", lambda name, module, *args: started.append(args) or _FakeJob())
    models_tab.start_download(ctx, t, "all", "https://hf-mirror.com/")
    assert started[-1][-2:] == ("--endpoint", "https://hf-mirror.com") and started[-1][2] == "all"
    with pytest.raises(gr.Error, match="not a web address"):
        readable(t)(models_tab.start_download)(ctx, t, "v2", "hf-mirror.com")
    with pytest.raises(gr.Error, match="does not exist"):
        readable(t)(models_tab.start_import)(ctx, t, str(tmp_path / "nowhere"))
    html, _, seen, timer, *tables = models_tab.follow(ctx, t, "20000101-000000-gone-000000", "running")
    assert 'data-status="none"' in html and seen is None and timer.active is False


class _FakeJob:
    id = "fake"


def test_download_error_is_a_protocol_event(tmp_path, monkeypatch, capsys):
    present = {k: v for k, v in cli.COMMANDS.items() if k == "models"}
    monkeypatch.setattr(cli, "COMMANDS", present)
    monkeypatch.setenv("GPT_SOVITS_HOME", str(tmp_path))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["models", "download", "sv", "--endpoint", url, "--retries", "0", "--progress", "json"]
    assert cli.main(args) == 2
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "error" and url in events[-1]["message"]


def test_import_job_from_a_folder(tiny_home, tmp_path):
    ctx = make_ctx(tmp_path)
    job_id = models_tab.start_import(ctx, t, str(tiny_home.pretrained))
    status = ctx.jobs.get(job_id).wait(timeout=120)
    assert status.status == "done", status.log_tail
    events = ctx.jobs.get(job_id).events_since(0)
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["imported"] == 5 and events[-1]["missing"] == ["sv"]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["step"] == progress[-1]["steps"] == events[0]["steps"] > 0
    for rel in (tiny_home.gpt, tiny_home.sovits):
        copy = ctx.settings.pretrained_dir / rel.relative_to(tiny_home.pretrained)
        assert copy.read_bytes() == rel.read_bytes() and rel.exists()
    assert [i.key for i in layout.missing_pretrained(ctx.settings.pretrained_dir)] == ["sv"]


# -- both tabs served ---------------------------------------------------------------------------------------
def test_tabs_launch_with_their_elem_ids(tmp_path):
    ctx = make_ctx(tmp_path)
    with gr.Blocks() as app:
        with gr.Tab("voices") as tab:
            voices_tab.build(ctx, t, tab)
        with gr.Tab("models") as tab:
            models_tab.build(ctx, t, tab)
    config = served_config(app)
    ids = elem_ids(config)
    expected = {
        "voices-table", "voices-refresh", "voices-name", "voices-sample", "voices-info", "voices-new-name", "voices-rename",
        "voices-duplicate", "voices-delete", "voices-trash", "voices-restore", "voices-export",
        "voices-export-file", "voices-import-file", "voices-import",
        "models-status", "models-installed", "models-loaded", "models-memory", "models-refresh",
        "models-unload-all", "models-unload", "models-unload-which", "models-download", "models-endpoint",
        "models-import-path", "models-import", "models-import-file", "models-import-file-button",
        "models-progress", "models-log",
    }  # fmt: skip
    assert expected <= ids, expected - ids
