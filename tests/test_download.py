"""Pretrained-model download through a local fake hub, the offline importer, and ``models`` on the CLI."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
from pathlib import Path

import pytest
import torch
from fake_hub import FakeHub, build_repo

from gpt_sovits import cli
from gpt_sovits.cli import main
from gpt_sovits.models.checkpoint import CheckpointError
from gpt_sovits.registry import layout
from gpt_sovits.registry.download import (
    DownloadError,
    HubNotFoundError,
    HubUnreachableError,
    IntegrityError,
    RemoteFile,
    download_pretrained,
    download_with_settings,
    file_digest,
)
from gpt_sovits.registry.importer import (
    ImportSourceError,
    find_pretrained_source,
    import_model_file,
    import_pretrained,
)
from gpt_sovits.settings import Settings, load_settings

GPT = layout.pretrained_item("gpt_v2").path
SOVITS = layout.pretrained_item("sovits_v2_g").path
SV = layout.pretrained_item("sv").path
HUBERT_CONFIG = "chinese-hubert-base/config.json"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # urllib honours proxy variables; requests to the local fake hub must go straight to it.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> dict[str, bytes]:
    return build_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture
def hub(repo):
    with FakeHub(repo) as h:
        yield h


def repo_paths(items, repo) -> list[str]:
    """The repository files that make up ``items`` (a folder item is every file under it)."""
    out = []
    for item in items:
        out += [p for p in repo if p.startswith(item.path + "/")] if item.is_dir else [item.path]
    return sorted(out)


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def write_tree(root: Path, repo: dict[str, bytes], paths) -> Path:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(repo[p])
    return root


class _RunsShell:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def malicious_model(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    weight = {"model.ar_audio_embedding.word_embeddings.weight": torch.zeros(4, 2)}
    torch.save({"weight": weight, "config": _RunsShell(marker)}, path)
    return path


# -- hashes ---------------------------------------------------------------------------------------------------
def test_file_digest_matches_git_and_sha256(tmp_path):
    p = tmp_path / "hello.txt"
    p.write_bytes(b"hello\n")
    # `git hash-object` of "hello\n" is this well-known id; LFS files use the plain sha256.
    assert file_digest(p, RemoteFile("hello.txt", 6, "x")) == "ce013625030ba8dba906f756967f9e9ca394464a"
    lfs = RemoteFile("hello.txt", 6, "x", sha256="y")
    assert file_digest(p, lfs) == hashlib.sha256(b"hello\n").hexdigest()


# -- downloads -------------------------------------------------------------------------------------------------
def test_full_download_of_every_item(repo, tmp_path):
    pre = tmp_path / "pretrained"
    seen: dict[str, tuple[int, int]] = {}
    with FakeHub(repo, page_size=3) as hub:  # small pages: the Link headers must be followed
        report = download_pretrained(
            pre,
            ["all"],
            endpoint=hub.url,
            progress=lambda f, d, t: seen.__setitem__(f, (d, t)),
            retry_wait_s=0,
        )
        expected = repo_paths(layout.ALL_PRETRAINED, repo)
        assert sorted(f.path for f in report.files) == expected
        assert {f.status for f in report.files} == {"downloaded"} and report.ok
        for p in expected:
            assert (pre / p).read_bytes() == repo[p], p
            assert len(hub.content_requests(p)) == 1
        assert any("cursor=" in r.path for r in hub.of_kind("tree"))
        # LFS files came through the CDN redirect, git files straight from resolve.
        assert hub.of_kind("cdn", GPT) and not hub.of_kind("cdn", HUBERT_CONFIG)
        assert not hub.of_kind("resolve", "s2G488k.pth") and not hub.of_kind("resolve", "README.md")
    assert seen == {p: (len(repo[p]), len(repo[p])) for p in expected}
    assert report.transferred == sum(len(repo[p]) for p in expected)
    assert layout.missing_pretrained(pre, layout.ALL_PRETRAINED) == []
    assert not list(pre.rglob("*.part"))
    assert not (pre / "s2G488k.pth").exists() and not (pre / "README.md").exists()


def test_interrupted_transfer_resumes_with_range(hub, tmp_path):
    data = hub.files[SOVITS]
    cut = len(data) // 3
    hub.drop_after[SOVITS] = cut
    report = download_pretrained(tmp_path, ["sovits_v2_g"], endpoint=hub.url, retry_wait_s=0)
    assert (tmp_path / SOVITS).read_bytes() == data
    # The Range header went to resolve and survived the redirect to the CDN.
    assert [r.headers.get("range") for r in hub.of_kind("resolve", SOVITS)] == [None, f"bytes={cut}-"]
    assert [r.headers.get("range") for r in hub.content_requests(SOVITS)] == [None, f"bytes={cut}-"]
    assert hub.body_bytes[SOVITS] == len(data) < 2 * len(data)
    assert report.files[0].transferred == len(data)


def test_part_file_from_an_earlier_run_is_resumed(hub, tmp_path):
    data = hub.files[GPT]
    part = tmp_path / (GPT + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    download_pretrained(tmp_path, ["gpt_v2"], endpoint=hub.url, retry_wait_s=0)
    assert (tmp_path / GPT).read_bytes() == data and not part.exists()
    assert [r.headers.get("range") for r in hub.content_requests(GPT)] == ["bytes=1000-"]
    assert hub.body_bytes[GPT] == len(data) - 1000


def test_server_ignoring_range_starts_over(hub, tmp_path):
    data = hub.files[GPT]
    part = tmp_path / (GPT + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 5000)  # a wrong prefix: only a full 200 answer can repair it
    hub.ignore_range.add(GPT)
    download_pretrained(tmp_path, ["gpt_v2"], endpoint=hub.url, retry_wait_s=0)
    assert (tmp_path / GPT).read_bytes() == data
    assert [r.headers.get("range") for r in hub.content_requests(GPT)] == ["bytes=5000-"]


@pytest.mark.parametrize(
    "path,key", [(GPT, "gpt_v2"), (HUBERT_CONFIG, "hubert")], ids=["lfs-sha256", "git-sha1"]
)
def test_corrupt_file_is_detected_and_removed(hub, tmp_path, path, key):
    data = hub.files[path]
    expected = (
        hashlib.sha256(data).hexdigest()
        if path == GPT
        else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    )
    hub.corrupt.add(path)
    with pytest.raises(IntegrityError) as err:
        download_pretrained(tmp_path, [key], endpoint=hub.url, retry_wait_s=0)
    msg = str(err.value)
    assert path in msg and expected in msg and "damaged" in msg and "Run the download again" in msg
    assert hub.url in msg  # names the mirror that served it
    assert not (tmp_path / path).exists() and not (tmp_path / (path + ".part")).exists()
    hub.corrupt.clear()
    download_pretrained(tmp_path, [key], endpoint=hub.url, retry_wait_s=0)
    assert (tmp_path / path).read_bytes() == data


def test_not_found_and_unreachable_messages(repo, hub, tmp_path):
    hub.missing.add(SOVITS)
    with pytest.raises(HubNotFoundError, match=r"s2G2333k\.pth.*404"):
        download_pretrained(tmp_path, ["sovits_v2_g"], endpoint=hub.url, retry_wait_s=0)
    with pytest.raises(HubNotFoundError, match=r"revision 'no-such-branch'.*404"):
        download_pretrained(tmp_path, ["sv"], endpoint=hub.url, revision="no-such-branch", retry_wait_s=0)
    without_hubert = {p: d for p, d in repo.items() if not p.startswith("chinese-hubert-base/")}
    with FakeHub(without_hubert) as partial:
        with pytest.raises(HubNotFoundError, match="chinese-hubert-base"):
            download_pretrained(tmp_path / "p", ["v2"], endpoint=partial.url, retry_wait_s=0)
        assert not partial.of_kind("resolve")  # everything is listed before anything is fetched
    url = closed_port_url()
    with pytest.raises(HubUnreachableError) as err:
        download_pretrained(tmp_path, ["sv"], endpoint=url, retries=1, retry_wait_s=0)
    msg = str(err.value)
    assert url in msg and "HF_ENDPOINT=https://hf-mirror.com" in msg and "models import" in msg


def test_unsafe_names_from_the_hub_are_refused(repo, tmp_path):
    evil = dict(repo, **{"chinese-hubert-base/../../evil.txt": b"x"})
    with FakeHub(evil) as hub, pytest.raises(DownloadError, match="unsafe"):
        download_pretrained(tmp_path / "pre", ["hubert"], endpoint=hub.url, retry_wait_s=0)
    assert not (tmp_path / "evil.txt").exists() and not list(tmp_path.rglob("evil.txt"))


def test_present_files_are_skipped_and_different_ones_kept(repo, hub, tmp_path):
    download_pretrained(tmp_path, ["v2"], endpoint=hub.url, retry_wait_s=0)
    hub.requests.clear()
    again = download_pretrained(tmp_path, ["v2"], endpoint=hub.url, retry_wait_s=0)
    assert {f.status for f in again.files} == {"present"} and again.transferred == 0
    assert not hub.of_kind("resolve") and not hub.of_kind("cdn")
    (tmp_path / GPT).write_bytes(b"my own file")
    third = download_pretrained(tmp_path, ["gpt_v2"], endpoint=hub.url, retry_wait_s=0)
    assert [f.status for f in third.files] == ["kept"] and not third.ok
    assert str(tmp_path / GPT) in third.files[0].note and "left untouched" in third.files[0].note
    assert (tmp_path / GPT).read_bytes() == b"my own file"
    assert not hub.of_kind("resolve")


def test_token_goes_to_the_hub_but_not_to_the_cdn(hub, tmp_path):
    download_pretrained(tmp_path, ["gpt_v2", "hubert"], endpoint=hub.url, token="hf_secret", retry_wait_s=0)
    assert all(r.headers.get("authorization") == "Bearer hf_secret" for r in hub.of_kind("resolve"))
    assert all(r.headers.get("authorization") == "Bearer hf_secret" for r in hub.of_kind("tree"))
    assert hub.of_kind("cdn") and all("authorization" not in r.headers for r in hub.of_kind("cdn"))


def test_endpoint_comes_from_settings(hub, tmp_path):
    settings = load_settings({"GPT_SOVITS_HOME": str(tmp_path), "HF_ENDPOINT": hub.url + "/"})
    assert settings.hf_endpoint == hub.url
    report = download_with_settings(settings, ["sv"], retry_wait_s=0)
    assert report.endpoint == hub.url
    assert (tmp_path / "pretrained" / SV).read_bytes() == hub.files[SV]
    # An explicit endpoint wins over the setting.
    other = Settings(pretrained_dir=tmp_path / "other", hf_endpoint=closed_port_url())
    download_with_settings(other, ["sv"], endpoint=hub.url, retry_wait_s=0)
    assert (tmp_path / "other" / SV).read_bytes() == hub.files[SV]


def test_item_selection():
    assert layout.resolve_items(None) == layout.PRETRAINED_V2
    pro = layout.resolve_items(["v2pro", "sv"])
    assert [i.key for i in pro][:3] == ["hubert", "bert", "sv"] and len(pro) == len(set(pro)) == 8
    assert {i.path for i in layout.PRETRAINED_V2PRO} >= {"v2Pro/s2Gv2Pro.pth", "v2Pro/s2Gv2ProPlus.pth"}
    with pytest.raises(layout.PretrainedKeyError, match="gpt_v2"):
        layout.resolve_items(["gpt_v9"])


# -- offline import ---------------------------------------------------------------------------------------------
def test_import_from_an_installation(repo, tmp_path):
    inst = tmp_path / "GPT-SoVITS-v2pro-20250604"
    src = write_tree(inst / "GPT_SoVITS" / "pretrained_models", repo, repo_paths(layout.PRETRAINED_V2, repo))
    dest = tmp_path / "pretrained"
    assert find_pretrained_source(inst) == src and find_pretrained_source(inst / "GPT_SoVITS") == src
    report = import_pretrained(inst, dest)
    status = {i.item.key: i.status for i in report.items}
    assert {k: status[k] for k in (i.key for i in layout.PRETRAINED_V2)} == dict.fromkeys(
        (i.key for i in layout.PRETRAINED_V2), "imported"
    )
    assert {status[i.key] for i in layout.PRETRAINED_V2PRO} == {"not_found"}
    assert report.still_missing == ()
    for p in repo_paths(layout.PRETRAINED_V2, repo):
        assert (dest / p).read_bytes() == repo[p] and (src / p).exists()  # copied, not moved
    again = import_pretrained(src, dest, ["v2"])
    assert {i.status for i in again.items} == {"present"}
    (dest / SOVITS).write_bytes(b"different")
    third = import_pretrained(src, dest, ["sovits_v2_g"])
    assert third.items[0].status == "kept" and (dest / SOVITS).read_bytes() == b"different"


def test_import_checks_every_item_before_copying(repo, tmp_path):
    src, dest, marker = tmp_path / "old_pretrained", tmp_path / "pretrained", tmp_path / "pwned"
    write_tree(src, repo, [GPT, "chinese-hubert-base/pytorch_model.bin"])  # hubert lacks config.json
    (src / SOVITS).write_bytes(repo[GPT])  # a GPT under the SoVITS name
    malicious_model(src / SV, marker)
    (src / "chinese-roberta-wwm-ext-large").mkdir()
    (src / "chinese-roberta-wwm-ext-large" / "config.json").write_text("{not json")
    report = import_pretrained(src, dest, ["v2"])
    by_key = {i.item.key: i for i in report.items}
    assert {k: i.status for k, i in by_key.items()} == {
        "gpt_v2": "imported",
        "sovits_v2_g": "invalid",
        "sovits_v2_d": "not_found",
        "hubert": "invalid",
        "bert": "invalid",
        "sv": "invalid",
    }
    assert "is a gpt v2" in by_key["sovits_v2_g"].note
    assert "config.json" in by_key["hubert"].note
    assert "Refused" in by_key["sv"].note and not marker.exists()
    assert (dest / GPT).read_bytes() == repo[GPT]
    assert (
        not (dest / SOVITS).exists()
        and not (dest / SV).exists()
        and not (dest / "chinese-hubert-base").exists()
    )
    assert [i.key for i in report.still_missing] == ["sovits_v2_g", "sovits_v2_d", "hubert", "bert", "sv"]
    with pytest.raises(ImportSourceError, match="holds none"):
        import_pretrained(tmp_path / "pretrained" / "gsv-v2final-pretrained", tmp_path / "x")


def test_import_model_file(repo, tmp_path):
    pre = tmp_path / "pretrained"
    mine = tmp_path / "mine" / "alice_e8_s96.pth"
    mine.parent.mkdir()
    mine.write_bytes(repo[SOVITS])
    done = import_model_file(mine, pre)
    assert done.status == "copied" and done.dest == pre / "user" / mine.name
    assert (done.identity.kind, done.identity.version) == ("sovits", "v2")
    assert done.dest.read_bytes() == repo[SOVITS] and mine.exists()
    assert import_model_file(mine, pre).status == "identical"
    other = tmp_path / "other" / mine.name
    other.parent.mkdir()
    other.write_bytes(repo["v2Pro/s2Gv2Pro.pth"])
    second = import_model_file(other, pre)
    assert second.dest.name == "alice_e8_s96-2.pth" and second.identity.version == "v2Pro"
    assert done.dest.read_bytes() == repo[SOVITS]

    marker = tmp_path / "pwned"
    with pytest.raises(CheckpointError, match="Refused"):
        import_model_file(malicious_model(tmp_path / "bad.ckpt", marker), pre)
    assert not marker.exists()
    (tmp_path / "notes.pth").write_text("not a model")
    with pytest.raises(CheckpointError, match="not a GPT-SoVITS model file"):
        import_model_file(tmp_path / "notes.pth", pre)
    (tmp_path / "d.pth").write_bytes(repo[layout.pretrained_item("sovits_v2_d").path])
    with pytest.raises(CheckpointError, match="pretrained component"):
        import_model_file(tmp_path / "d.pth", pre)
    assert sorted(p.name for p in (pre / "user").iterdir()) == ["alice_e8_s96-2.pth", "alice_e8_s96.pth"]


# -- command line ------------------------------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch):
    # Subcommands other helpers have not written yet would make the parser fail to build; leave them out.
    present = {k: v for k, v in cli.COMMANDS.items() if importlib.util.find_spec(v[0]) is not None}
    monkeypatch.setattr(cli, "COMMANDS", present)
    monkeypatch.setenv("GPT_SOVITS_HOME", str(tmp_path / "home"))
    for name in ("GPT_SOVITS_PRETRAINED", "GPT_SOVITS_VOICES", "GPT_SOVITS_LOGS", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def _json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_cli_list_then_download(home, hub, repo, capsys):
    pre = home / "pretrained"
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert all(i.path in out for i in layout.PRETRAINED_V2) and layout.how_to_get(pre) in out
    assert main(["models", "list", "--json"]) == 0
    listed = _json_out(capsys)
    assert listed["missing"] == [i.key for i in layout.PRETRAINED_V2] and "how_to_get" in listed

    assert main(["models", "download", "--endpoint", hub.url, "--retries", "0"]) == 0  # with tqdm bars
    out = capsys.readouterr().out
    assert f"{len(repo_paths(layout.PRETRAINED_V2, repo))} downloaded" in out
    assert main(["models", "list", "--json"]) == 0
    listed = _json_out(capsys)
    assert listed["missing"] == [] and "how_to_get" not in listed
    sizes = {e["key"]: e["size"] for e in listed["pretrained"] if e["present"]}
    assert sizes == {i.key: sum(len(repo[p]) for p in repo_paths([i], repo)) for i in layout.PRETRAINED_V2}
    assert main(["models", "download", "--endpoint", hub.url, "--json"]) == 0
    assert {f["status"] for f in _json_out(capsys)["files"]} == {"present"}


def test_cli_download_endpoint_from_environment_and_errors(home, hub, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    assert main(["models", "download", "sv", "--no-progress"]) == 0
    assert (home / "pretrained" / SV).read_bytes() == hub.files[SV]
    capsys.readouterr()
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    assert main(["models", "download", "bert", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and url in err and "hf-mirror.com" in err
    assert main(["models", "download", "gpt_v9"]) == 2
    assert "Unknown pretrained model 'gpt_v9'" in capsys.readouterr().err


def test_cli_import_list_identify_inspect(home, repo, tmp_path, capsys):
    inst = tmp_path / "GPT-SoVITS"
    write_tree(inst / "GPT_SoVITS" / "pretrained_models", repo, repo_paths(layout.PRETRAINED_V2, repo))
    assert main(["models", "import", str(inst), "--json"]) == 0
    report = _json_out(capsys)
    assert report["still_missing"] == [] and {i["status"] for i in report["items"][:6]} == {"imported"}

    voice = tmp_path / "bob_e10_s200.pth"
    voice.write_bytes(repo[SOVITS])
    assert main(["models", "import", str(voice)]) == 0
    assert "copied" in capsys.readouterr().out
    own_gpt = home / "user_voices" / "alice" / "alice-e15.ckpt"
    own_gpt.parent.mkdir(parents=True)
    own_gpt.write_bytes(repo[GPT])
    (own_gpt.parent / "broken.pth").write_bytes(b"not a model")
    assert main(["models", "list", "--identify", "--json"]) == 0
    users = {Path(u["file"]).name: (u["kind"], u["version"]) for u in _json_out(capsys)["user_models"]}
    assert users == {
        "bob_e10_s200.pth": ("sovits", "v2"),
        "alice-e15.ckpt": ("gpt", "v2"),
        "broken.pth": ("unknown", None),
    }

    assert main(["models", "inspect", str(own_gpt), "--json"]) == 0
    assert _json_out(capsys)["kind"] == "gpt"
    marker = tmp_path / "pwned"
    bad = malicious_model(tmp_path / "evil.pth", marker)
    assert main(["models", "import", str(bad)]) == 2
    assert "Refused" in capsys.readouterr().err and not marker.exists()
