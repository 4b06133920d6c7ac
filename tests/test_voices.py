"""The voice library: create/list/get, rename/duplicate, trash/restore, zip export/import (and refusing
malicious archives), crash safety of writes, the feature cache, dictionaries and the ``voices`` CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
import threading
import unicodedata
import zipfile
from pathlib import Path

import pytest
import torch
from tiny_models import save_tiny_gpt, save_tiny_sovits, write_speech

from gpt_sovits.text.dictionary import Dictionary
from gpt_sovits.voices import (
    UnsafeArchive,
    VoiceCorrupt,
    VoiceError,
    VoiceExists,
    VoiceLibrary,
    VoiceNotFound,
)
from gpt_sovits.voices import features as feature_cache
from gpt_sovits.voices.names import folder_base, is_safe_component, name_key, unique_folder_name

UNICODE_NAME = "小明 – Zoë/😀"
REF_TEXT = "Please call Stella and ask her to bring these things with her from the store."
CONSENT = "Synthetic test voice made by piper for these tests; no real person."
DICT_LINES = ['{"银行": "yin2 hang2"}', '{"GIF": "JH IH1 F"}', "# a comment"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content (the file-system state, for before/after checks); the
    library's empty lock file does not count."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock")
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def assets(tmp_path_factory, speak):
    root = tmp_path_factory.mktemp("assets")
    return {
        "gpt": save_tiny_gpt(root / "my gpt-e15.ckpt"),
        "sovits": save_tiny_sovits(root / "my_sovits_e8.pth"),
        "sovits_pro": save_tiny_sovits(root / "pro.pth", version="v2Pro"),
        "ref": write_speech(speak, root / "ref.wav", REF_TEXT),
        "ref2": write_speech(
            speak, root / "second take.wav", "The museum was closed, so we walked along the river."
        ),
    }


@pytest.fixture
def lib(tmp_path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "library")


def make(lib: VoiceLibrary, assets, name: str = "Alice", **kw):
    kw.setdefault("references", [assets["ref"]])
    kw.setdefault("ref_text", REF_TEXT)
    kw.setdefault("consent", CONSENT)
    return lib.create(name, gpt=assets["gpt"], sovits=assets["sovits"], **kw)


def test_create_copies_hashes_and_reads_version(lib, assets):
    sources = {k: sha(assets[k]) for k in ("gpt", "sovits", "ref", "ref2")}
    voice = make(
        lib,
        assets,
        UNICODE_NAME,
        references=[assets["ref"], (assets["ref2"], "", "en")],
        language="en",
        defaults={"top_k": 10, "speed": 1.1},
        dictionary=DICT_LINES,
    )
    assert voice.name == unicodedata.normalize("NFC", UNICODE_NAME)
    assert voice.version == "v2"  # read from the SoVITS file, nobody passed it
    assert voice.folder.parent == lib.root and "/" not in voice.folder.name
    assert voice.folder.name.startswith("小明") and not voice.folder.name.startswith(".")
    # Files were copied (the sources are untouched) and hashed.
    assert sha(voice.gpt_path) == sources["gpt"] and sha(voice.sovits_path) == sources["sovits"]
    assert [sha(r.path) for r in voice.references] == [sources["ref"], sources["ref2"]]
    assert {k: sha(assets[k]) for k in sources} == sources
    for member, digest in voice.sha256.items():
        assert sha(voice.folder / member) == digest
    assert set(voice.sha256) == {p.name for p in voice.folder.iterdir() if p.name != "voice.json"}
    assert voice.references[0].text == REF_TEXT and voice.references[1].text == ""
    assert dict(voice.defaults) == {"top_k": 10, "speed": 1.1}
    with pytest.raises(TypeError):
        voice.defaults["top_k"] = 3  # read-only
    assert len(Dictionary.load(voice.dictionary_path).entries) == 2
    assert voice.created == voice.updated and voice.created.utcoffset().total_seconds() == 0
    assert voice.consent == CONSENT and voice.app_version
    # voice.json names files relative to the folder: the voice can be moved or zipped.
    record = json.loads((voice.folder / "voice.json").read_text(encoding="utf-8"))
    assert record["gpt"] == voice.gpt_path.name and str(lib.root) not in json.dumps(record)
    assert record["created"].endswith("Z")
    # get() ignores case and Unicode normalisation; list() sees the voice.
    assert lib.get(unicodedata.normalize("NFD", UNICODE_NAME.upper())) == voice
    assert lib.get(voice.folder.name) == voice
    assert lib.list() == [voice]
    assert lib.verify(voice.name) == []


def test_model_files_are_checked(lib, assets):
    pro = lib.create(
        "Pro", gpt=assets["gpt"], sovits=assets["sovits_pro"], references=[assets["ref"]], consent=CONSENT
    )
    assert pro.version == "v2Pro"
    with pytest.raises(VoiceError, match="not a SoVITS model"):
        lib.create(
            "Swap", gpt=assets["gpt"], sovits=assets["gpt"], references=[assets["ref"]], consent=CONSENT
        )
    with pytest.raises(VoiceError, match="could not be read"):
        lib.create(
            "Junk", gpt=assets["gpt"], sovits=assets["ref"], references=[assets["ref"]], consent=CONSENT
        )
    given = lib.create(
        "Given",
        gpt=assets["gpt"],
        sovits=assets["sovits"],
        references=[assets["ref"]],
        consent=CONSENT,
        version="v1",
    )
    assert given.version == "v1"  # an explicit version is trusted without reading the files
    with pytest.raises(VoiceError, match="Reference"):
        make(lib, assets, "BadRef", references=[assets["gpt"]])
    assert sorted(v.name for v in lib.list()) == ["Given", "Pro"]


def test_name_rules(lib, assets):
    make(lib, assets, "Zoë")
    for clash in ("ZOË", unicodedata.normalize("NFD", "zoë"), "  Zoë "):
        with pytest.raises(VoiceExists, match="already exists"):
            make(lib, assets, clash)
    for empty in ("", "   ", "\t"):
        with pytest.raises(VoiceError, match="empty"):
            make(lib, assets, empty)
    with pytest.raises(VoiceError, match="consent"):
        make(lib, assets, "NoConsent", consent="  ")
    with pytest.raises(VoiceError, match="language mode"):
        make(lib, assets, "BadLang", language="klingon")
    with pytest.raises(VoiceError, match="Default option"):
        make(lib, assets, "BadDefault", defaults={"top_k": [1, 2]})
    assert [v.name for v in lib.list()] == ["Zoë"]
    assert [p.name for p in lib.root.iterdir() if not p.name.startswith(".")] == ["Zoë"]


@pytest.mark.parametrize(
    "name",
    [
        "CON",
        "con.txt",
        "../../etc",
        ".hidden",
        "a/b\\c:d*e?f",
        "trailing. . ",
        "x\x07y",
        "\u202eevil",
        "😀" * 100,
    ],
)
def test_folder_names_are_safe(name):
    folder = folder_base(name)
    assert folder and not folder.startswith(".") and not folder.endswith((".", " "))
    assert not set(folder) & set('<>:"/\\|?*') and folder.isprintable()
    assert folder.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
    assert len(folder.encode("utf-8")) <= 80 and is_safe_component(folder) and not is_safe_component(name)
    assert unique_folder_name(name, [folder.upper(), f"{folder}-2"]) == f"{folder}-3"
    assert name_key("ZOË") == name_key(unicodedata.normalize("NFD", "zoë"))


def test_rename_and_duplicate(lib, assets):
    alice = make(lib, assets, "Alice", defaults={"top_k": 5})
    bob = lib.rename("alice", "Bob 🎤")
    assert bob.name == "Bob 🎤" and bob.folder.name == "Bob 🎤" and not alice.folder.exists()
    assert bob.sha256 == alice.sha256 and bob.created == alice.created
    with pytest.raises(VoiceNotFound) as info:
        lib.get("Alice")
    assert info.value.names == ["Bob 🎤"] and "Bob 🎤" in str(info.value)
    assert lib.rename("bob 🎤", "BOB 🎤").name == "BOB 🎤"  # a case-only rename of itself is no clash
    copy = lib.duplicate("BOB 🎤", "Carol")
    assert copy.folder != bob.folder and copy.sha256 == bob.sha256 and dict(copy.defaults) == {"top_k": 5}
    copy.gpt_path.write_bytes(b"changed")  # the copy owns its files
    assert lib.verify("BOB 🎤") == [] and lib.verify("Carol") == [
        f"{copy.gpt_path.name}: content changed since it was saved (SHA-256 mismatch)"
    ]
    with pytest.raises(VoiceCorrupt, match="verify"):
        lib.duplicate("Carol", "Dave")
    with pytest.raises(VoiceExists):
        lib.duplicate("BOB 🎤", "carol")
    with pytest.raises(VoiceExists):
        lib.rename("Carol", "bob 🎤")
    assert sorted(v.name for v in lib.list()) == ["BOB 🎤", "Carol"]


def test_delete_trash_restore(lib, assets):
    voice = make(lib, assets, "Alice")
    entry = lib.delete("Alice")
    assert not voice.folder.exists() and entry.folder.is_dir() and entry.folder.parent == lib.root / ".trash"
    assert lib.list() == [] and [e.id for e in lib.trash()] == [entry.id] and entry.name == "Alice"
    make(lib, assets, "alice")  # the name is free again
    with pytest.raises(VoiceExists, match="--name"):
        lib.restore("Alice")
    restored = lib.restore(entry.id, new_name="Alice (old)")
    assert (
        restored.name == "Alice (old)" and restored.sha256 == voice.sha256 and lib.verify("Alice (old)") == []
    )
    assert lib.trash() == [] and sorted(v.name for v in lib.list()) == ["Alice (old)", "alice"]
    lib.delete("alice")
    assert lib.restore("ALICE").name == "alice"  # by name, not only by id
    with pytest.raises(VoiceNotFound, match="trash"):
        lib.restore("nobody")


def test_export_import_round_trip(lib, assets, tmp_path):
    voice = make(lib, assets, UNICODE_NAME, dictionary=DICT_LINES, defaults={"speed": 0.9})
    cached = {"codes": torch.arange(12), "timbre": torch.randn(1, 512, 1)}
    lib.save_features(voice.name, "key-1", cached)
    out = lib.export(voice.name, tmp_path / "out" / "voice.zip")
    before = out.read_bytes()
    with pytest.raises(VoiceExists, match="already exists"):
        lib.export(voice.name, out)
    assert out.read_bytes() == before
    with pytest.raises(VoiceExists, match="--name"):
        lib.import_zip(out)
    copy = lib.import_zip(out, name="Imported")
    assert copy.name == "Imported" and copy.folder != voice.folder
    assert copy.sha256 == voice.sha256 and copy.version == voice.version and copy.defaults == voice.defaults
    for member in voice.sha256:
        assert (copy.folder / member).read_bytes() == (voice.folder / member).read_bytes()
    loaded = lib.load_features("Imported", "key-1")
    assert loaded is not None and all(torch.equal(loaded[k], cached[k]) for k in cached)
    # An archive of a zipped folder (everything under one top-level folder) is accepted too.
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(nested, "w") as dst:
        for info in src.infolist():
            dst.writestr(f"some folder/{info.filename}", src.read(info))
    assert lib.import_zip(nested, name="Nested").sha256 == voice.sha256


def _rewrite(source: Path, dest: Path, edit) -> Path:
    """Copy a zip entry by entry, letting ``edit(name, data)`` change, drop (None) or keep each entry."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w") as dst:
        for info in src.infolist():
            data = edit(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info.filename, data)
    return dest


def _declare_huge(source: Path, dest: Path) -> Path:
    """Patch the central directory so that every entry declares an uncompressed size of ~4 GiB."""
    data = bytearray(source.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        struct.pack_into("<I", data, pos + 24, 0xFFFFFFF0)
        pos = data.find(b"PK\x01\x02", pos + 4)
    dest.write_bytes(bytes(data))
    return dest


def _add_entry(source: Path, dest: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    _rewrite(source, dest, lambda n, d: d)
    with zipfile.ZipFile(dest, "a") as zf:
        zf.writestr(info, data)
    return dest


def _symlink_info() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("outside_link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _bad_voice_json(name: str, data: bytes) -> bytes:
    if name != "voice.json":
        return data
    record = json.loads(data)
    record["sha256"]["../escape.wav"] = record["sha256"].pop(record["references"][0]["file"])
    record["references"][0]["file"] = "../escape.wav"
    return json.dumps(record).encode()


def _flip_wav_tail(name: str, data: bytes) -> bytes:
    return data[:-100] + bytes(b ^ 0xFF for b in data[-100:]) if name.endswith(".wav") else data


# kind -> (make the bad archive from a good one, what the refusal says)
MALICIOUS = {
    "dotdot": (lambda s, d: _add_entry(s, d, zipfile.ZipInfo("../../evil.txt"), b"x"), "'..'"),
    "absolute": (lambda s, d: _add_entry(s, d, zipfile.ZipInfo("/tmp/evil_abs.txt"), b"x"), "absolute"),
    "drive": (lambda s, d: _add_entry(s, d, zipfile.ZipInfo("C:/evil.txt"), b"x"), "absolute"),
    "backslash": (lambda s, d: _add_entry(s, d, zipfile.ZipInfo("..\\evil.txt"), b"x"), "'..'"),
    "symlink": (lambda s, d: _add_entry(s, d, _symlink_info(), b"../../../outside"), "symbolic link"),
    "oversize": (_declare_huge, "zip bomb"),
    "tampered": (lambda s, d: _rewrite(s, d, _flip_wav_tail), "SHA-256"),
    "missing file": (lambda s, d: _rewrite(s, d, lambda n, x: None if n.endswith(".ckpt") else x), "lacks"),
    "escaping voice.json": (lambda s, d: _rewrite(s, d, _bad_voice_json), "plain file name"),
}


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory, assets) -> Path:
    """A genuine export, shared by the archive tests (exporting deflates ~11 MB of weights)."""
    folder = tmp_path_factory.mktemp("export")
    lib = VoiceLibrary(folder / "library")
    make(lib, assets, "Alice")
    return lib.export("Alice", folder / "good.zip")


@pytest.mark.parametrize("kind", list(MALICIOUS))
def test_malicious_archives_are_refused(tmp_path, good_zip, kind):
    lib = VoiceLibrary(tmp_path / "a" / "b" / "library")
    good = Path(tmp_path / "good.zip")
    good.write_bytes(good_zip.read_bytes())
    build, message = MALICIOUS[kind]
    bad = build(good, tmp_path / "bad.zip")
    before = tree(tmp_path)
    with pytest.raises(UnsafeArchive, match=re.escape(message)):
        lib.import_zip(bad, name="Mallory")
    assert tree(tmp_path) == before  # nothing written anywhere (no partial voice, no staging left behind)
    assert not Path("/tmp/evil_abs.txt").exists()
    assert lib.list() == []
    assert lib.import_zip(good).name == "Alice"  # the library still works


def test_too_many_entries_refused(monkeypatch, good_zip, lib):
    from gpt_sovits.voices import archive

    monkeypatch.setattr(archive, "MAX_ENTRIES", 3)
    with pytest.raises(UnsafeArchive, match="entries"):
        lib.import_zip(good_zip)
    assert lib.list() == []


def test_crash_during_voice_json_write_keeps_old_file(lib, assets, monkeypatch):
    voice = make(lib, assets, "Alice", defaults={"top_k": 5})
    path = voice.folder / "voice.json"
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated power cut")

    for target in ("replace", "fsync"):  # after the temp file is written / while flushing it
        with monkeypatch.context() as m:
            m.setattr(os, target, crash)
            with pytest.raises(OSError, match="power cut"):
                lib.update("Alice", defaults={"top_k": 99})
        assert path.read_bytes() == before
        assert sorted(p.name for p in voice.folder.iterdir()) == sorted([*voice.sha256, "voice.json"])
        assert [dict(v.defaults) for v in lib.list()] == [{"top_k": 5}]
    # A crash at the final rename of a new voice leaves nothing visible and no staging folder.
    with monkeypatch.context() as m:
        m.setattr(os, "rename", crash)
        with pytest.raises(OSError, match="power cut"):
            make(lib, assets, "Bob")
    assert [v.name for v in lib.list()] == ["Alice"]
    assert sorted(p.name for p in lib.root.iterdir()) == [".lock", "Alice"]
    assert lib.update("Alice", defaults={"top_k": 6}).defaults == {"top_k": 6}


def test_broken_folders_are_skipped(lib, assets, caplog):
    good = make(lib, assets, "Good")
    (lib.root / "garbage").mkdir()
    (lib.root / "garbage" / "voice.json").write_text("{not json", encoding="utf-8")
    (lib.root / "empty").mkdir()
    wrong = lib.root / "wrong"
    wrong.mkdir()
    record = json.loads((good.folder / "voice.json").read_text(encoding="utf-8"))
    record["gpt"] = "../Good/" + record["gpt"]  # a path out of its folder is refused
    (wrong / "voice.json").write_text(json.dumps(record), encoding="utf-8")
    (lib.root / "stray.txt").write_text("not a voice")
    assert lib.list() == [good]
    assert {"garbage", "empty", "wrong"} <= {r.getMessage().split()[3].rstrip(":") for r in caplog.records}
    with pytest.raises(VoiceNotFound):
        lib.get("garbage")
    assert "unreadable" in lib.verify("garbage")[0] and "no voice.json" in lib.verify("empty")[0]
    assert "plain file name" in lib.verify("wrong")[0]


def test_verify_reports_damage(lib, assets, tmp_path):
    voice = make(lib, assets, "Alice", references=[assets["ref"], assets["ref2"]])
    voice.references[1].path.write_bytes(b"RIFF....not audio")
    voice.gpt_path.unlink()
    problems = lib.verify("Alice")
    assert f"{voice.gpt_path.name}: missing" in problems
    assert any(voice.references[1].path.name in p and "SHA-256" in p for p in problems)
    with pytest.raises(VoiceCorrupt, match="not exported"):
        lib.export("Alice", tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_feature_cache(lib, assets, monkeypatch, caplog):
    voice = make(lib, assets)
    base = torch.randn(4, 6)
    tensors = {"timbre": torch.randn(1, 512, 1), "view": base[:, 1:3], "ids": torch.tensor([1, 2, 3])}
    assert lib.load_features("Alice", "k1") is None
    lib.save_features("Alice", "k1", tensors)
    got = lib.load_features("alice", "k1")
    assert (
        got is not None and set(got) == set(tensors) and all(torch.equal(got[k], tensors[k]) for k in tensors)
    )
    assert lib.load_features("Alice", "k2") is None  # stale key
    lib.save_features("Alice", "k2", {"x": torch.ones(2)})
    assert lib.load_features("Alice", "k1") is None and torch.equal(
        lib.load_features("Alice", "k2")["x"], torch.ones(2)
    )
    assert lib.verify("Alice") == []  # derived data is not part of the hashes
    cache = voice.folder / feature_cache.SAFETENSORS_FILE
    cache.write_bytes(cache.read_bytes()[:40])
    with caplog.at_level("WARNING"):
        assert lib.load_features("Alice", "k2") is None
    assert "damaged feature cache" in caplog.text
    # Without safetensors the cache is a torch file read back with weights_only.
    monkeypatch.setattr(feature_cache, "_safetensors", lambda: None)
    lib.save_features("Alice", "k3", tensors)
    assert not cache.exists() and (voice.folder / feature_cache.TORCH_FILE).is_file()
    got = lib.load_features("Alice", "k3")
    assert got is not None and all(torch.equal(got[k], tensors[k]) for k in tensors)
    assert lib.load_features("Alice", "k1") is None
    with pytest.raises(VoiceError):
        lib.save_features("Alice", "k4", {"bad": [1, 2]})


def test_dictionary_validation_and_update(lib, assets):
    with pytest.raises(VoiceError, match=r"dictionary.jsonl:2") as info:
        make(
            lib, assets, dictionary=['{"银行": "yin2 hang2"}', "{not json", '{"word": "行", "context": "银"}']
        )
    assert "2 bad line(s)" in str(info.value) and lib.list() == []
    voice = make(lib, assets)
    assert voice.dictionary_path is None
    voice = lib.update("Alice", add_dictionary_entry={"银行": "yin2 hang2"})
    voice = lib.update("Alice", add_dictionary_entry='{"GIF": "JH IH1 F"}')
    assert len(Dictionary.load(voice.dictionary_path).entries) == 2 and lib.verify("Alice") == []
    text = voice.dictionary_path.read_text(encoding="utf-8")
    with pytest.raises(VoiceError, match="bad line"):
        lib.update("Alice", add_dictionary_entry={"word": "行", "context": "银", "phoneme": "hang2"})
    assert voice.dictionary_path.read_text(encoding="utf-8") == text
    voice = lib.update("Alice", ref_text="New text.", language="en", defaults={"seed": 7})
    assert voice.prompt.text == "New text." and voice.language == "en" and dict(voice.defaults) == {"seed": 7}
    path = voice.dictionary_path
    voice = lib.update("Alice", dictionary_lines=[])
    assert voice.dictionary_path is None and not path.exists() and lib.verify("Alice") == []
    dict_file = lib.root.parent / "dict.jsonl"
    dict_file.write_text('{"银行": "yin2 hang2"}\n', encoding="utf-8")
    assert make(lib, assets, "Bob", dictionary=dict_file).dictionary_path.is_file()


def test_concurrent_creates(lib, assets):
    errors: list[Exception] = []

    def worker(name: str) -> None:
        try:
            make(lib, assets, name)
        except VoiceExists as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("A", "B", "Same", "same")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and sorted(v.name.casefold() for v in lib.list()) == ["a", "b", "same"]


def test_cli_round_trip(tmp_path, assets, monkeypatch, capsys):
    import gpt_sovits.cli

    # Only the subcommand under test: the parser imports every subcommand module, and this test should not
    # depend on the others.
    monkeypatch.setattr(gpt_sovits.cli, "COMMANDS", {"voices": gpt_sovits.cli.COMMANDS["voices"]})
    home = tmp_path / "home"
    monkeypatch.setenv("GPT_SOVITS_HOME", str(home))
    monkeypatch.setenv("GPT_SOVITS_VOICES", str(tmp_path / "voices"))

    def cli(*args: str) -> tuple[int, str, str]:
        rc = gpt_sovits.cli.main(["voices", *map(str, args)])
        out = capsys.readouterr()
        return rc, out.out, out.err

    create = [
        "create",
        UNICODE_NAME,
        "--gpt",
        assets["gpt"],
        "--sovits",
        assets["sovits"],
        "--ref",
        assets["ref"],
    ]
    rc, _, err = cli(*create)
    assert rc == 2 and "--consent" in err
    rc, out, _ = cli(
        *create,
        "--ref-text",
        REF_TEXT,
        "--consent",
        CONSENT,
        "--default",
        "top_k=10",
        "--default",
        "mode=fast",
    )
    assert rc == 0 and "v2" in out
    rc, out, _ = cli("list", "--json")
    [shown] = json.loads(out)
    assert shown["name"] == UNICODE_NAME and shown["defaults"] == {"top_k": 10, "mode": "fast"}
    assert Path(shown["folder"]).parent == tmp_path / "voices"
    rc, out, _ = cli("show", UNICODE_NAME)
    assert rc == 0 and REF_TEXT in out and CONSENT in out
    assert cli("update", UNICODE_NAME, "--default", "speed=1.2", "--unset", "mode")[0] == 0
    assert json.loads(cli("show", UNICODE_NAME, "--json")[1])["defaults"] == {"top_k": 10, "speed": 1.2}
    assert cli("rename", UNICODE_NAME, "Renamed")[0] == 0
    assert cli("duplicate", "Renamed", "Twin")[0] == 0
    rc, out, _ = cli("export", "Twin", tmp_path / "twin.zip")
    assert rc == 0 and (tmp_path / "twin.zip").is_file()
    rc, _, err = cli("import", tmp_path / "twin.zip")
    assert rc == 2 and "--name" in err
    assert cli("import", tmp_path / "twin.zip", "--name", "Imported")[0] == 0
    assert cli("verify", "Imported")[0] == 0
    rc, out, _ = cli("delete", "Twin")
    assert rc == 0 and "restore" in out
    rc, out, _ = cli("trash")
    trash_id = out.split("\t")[0]
    assert rc == 0 and "Twin" in out
    assert cli("restore", trash_id, "--name", "Back")[0] == 0
    rc, _, err = cli("show", "Twin")
    assert rc == 2 and "Back" in err  # the error lists the existing voices
    rc, out, _ = cli("list")
    assert [line.split("\t")[0] for line in out.splitlines()] == ["Back", "Imported", "Renamed"]
    api = VoiceLibrary(tmp_path / "voices")
    api.get("Renamed").gpt_path.write_bytes(b"x")
    rc, out, _ = cli("verify", "Renamed")
    assert rc == 1 and "SHA-256" in out
