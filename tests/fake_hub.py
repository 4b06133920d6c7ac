"""A local HTTP server that imitates the Hugging Face hub for one repository, with injectable faults.

It answers the two requests a downloader makes, the way huggingface.co does:

* ``GET /api/models/{repo}/tree/{revision}[/{path}]?recursive=..`` -> JSON entries ``{type, oid, size, path,
  lfs?: {oid, size, pointerSize}}`` (``oid`` is the git blob sha1; for LFS files it is the pointer's, and
  ``lfs.oid`` is the content's sha256), paged with a ``Link: <..>; rel="next"`` header when ``page_size`` is set;
* ``GET /{repo}/resolve/{revision}/{path}`` -> the bytes for small files; for LFS files a 302 to a "CDN" URL
  on another host name (``localhost`` instead of ``127.0.0.1``), which serves the bytes. Both honour
  ``Range: bytes=N-`` with 206 answers.

Faults: ``drop_after[path] = n`` sends n bytes then closes the connection (once); ``corrupt`` flips a byte;
``missing`` answers 404 on resolve; ``ignore_range`` answers 200 with the whole file despite a Range.
Every request is recorded (``requests``) and body bytes sent per file are counted (``body_bytes``).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch

REPO = "lj1995/GPT-SoVITS"
LFS_SUFFIXES = (".ckpt", ".pth", ".bin", ".safetensors")


@dataclass(frozen=True)
class Recorded:
    """One request: ``kind`` is ``tree``, ``resolve`` or ``cdn``; ``file`` the repo path it was for."""

    kind: str
    path: str
    headers: dict[str, str]
    file: str | None = None


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """``with FakeHub(files) as hub: hub.url`` -- files maps repository paths to their bytes."""

    def __init__(self, files: dict[str, bytes], *, repo: str = REPO, revision: str = "main", page_size=None):
        self.files = dict(files)
        self.repo = repo
        self.revision = revision
        self.page_size = page_size
        self.drop_after: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.missing: set[str] = set()
        self.ignore_range: set[str] = set()
        self.requests: list[Recorded] = []
        self.body_bytes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- facts ----------------------------------------------------------------------------------------------
    @staticmethod
    def is_lfs(path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def entry(self, path: str) -> dict:
        data = self.files[path]
        if not self.is_lfs(path):
            return {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
        sha = hashlib.sha256(data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
        return {
            "type": "file",
            "oid": git_blob_sha1(pointer),
            "size": len(data),
            "lfs": {"oid": sha, "size": len(data), "pointerSize": len(pointer)},
            "path": path,
        }

    def listing(self, folder: str, recursive: bool) -> list[dict] | None:
        """Tree entries of ``folder`` (None when it does not exist), folders before files like the hub."""
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        below = [p for p in sorted(self.files) if p.startswith(prefix)]
        if prefix and not below:
            return None
        dirs, files = set(), []
        for p in below:
            rest = p[len(prefix) :].split("/")
            for depth in range(1, len(rest) if recursive else min(2, len(rest))):
                dirs.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                files.append(self.entry(p))
        folders = [
            {"type": "directory", "oid": git_blob_sha1(d.encode()), "size": 0, "path": d}
            for d in sorted(dirs)
        ]
        return folders + files

    def of_kind(self, kind: str, file: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind and (file is None or r.file == file)]

    def content_requests(self, file: str) -> list[Recorded]:
        """The requests that asked for the file's bytes (resolve for git files, the CDN for LFS files)."""
        return self.of_kind("cdn" if self.is_lfs(file) else "resolve", file)

    def record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        hub = self.hub
        split = urllib.parse.urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        tree = f"/api/models/{hub.repo}/tree/"
        resolve = f"/{hub.repo}/resolve/"
        if split.path.startswith(tree):
            rev, _, folder = split.path[len(tree) :].partition("/")
            hub.record(Recorded("tree", self.path, headers, urllib.parse.unquote(folder)))
            return self._tree(urllib.parse.unquote(rev), urllib.parse.unquote(folder), split.query)
        if split.path.startswith(resolve):
            rev, _, file = split.path[len(resolve) :].partition("/")
            file = urllib.parse.unquote(file)
            hub.record(Recorded("resolve", self.path, headers, file))
            if urllib.parse.unquote(rev) != hub.revision or file not in hub.files or file in hub.missing:
                return self._json(404, {"error": "Entry not found"})
            if hub.is_lfs(file):
                sha = hashlib.sha256(hub.files[file]).hexdigest()
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{hub.port}/cdn/{sha}?expires=1")
                self.send_header("X-Linked-Size", str(len(hub.files[file])))
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._content(file, headers)
        if split.path.startswith("/cdn/"):
            sha = split.path[len("/cdn/") :]
            file = next((p for p, d in hub.files.items() if hashlib.sha256(d).hexdigest() == sha), None)
            hub.record(Recorded("cdn", self.path, headers, file))
            if file is None:
                return self._json(404, {"error": "no such object"})
            return self._content(file, headers)
        hub.record(Recorded("other", self.path, headers))
        return self._json(404, {"error": "not found"})

    def _json(self, status: int, body, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _tree(self, rev: str, folder: str, query: str) -> None:
        hub = self.hub
        params = urllib.parse.parse_qs(query)
        entries = hub.listing(folder, params.get("recursive", ["false"])[0] == "true")
        if rev != hub.revision or entries is None:
            return self._json(404, {"error": f"{folder} does not exist on {rev}"})
        if not hub.page_size:
            return self._json(200, entries)
        start = int(params.get("cursor", ["0"])[0])
        page = entries[start : start + hub.page_size]
        extra = {}
        if start + hub.page_size < len(entries):
            nxt = dict(urllib.parse.parse_qsl(query), cursor=str(start + hub.page_size))
            path = urllib.parse.urlsplit(self.path).path
            extra["Link"] = f'<{hub.url}{path}?{urllib.parse.urlencode(nxt)}>; rel="next"'
        return self._json(200, page, extra)

    def _content(self, file: str, headers: dict[str, str]) -> None:
        hub = self.hub
        data = hub.files[file]
        if file in hub.corrupt:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        start = 0
        rng = headers.get("range", "")
        if rng.startswith("bytes=") and file not in hub.ignore_range:
            start = int(rng[len("bytes=") :].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with hub._lock:
            cut = hub.drop_after.pop(file, None)
        if cut is not None:
            body = body[:cut]
        for i in range(0, len(body), 64 * 1024):
            self.wfile.write(body[i : i + 64 * 1024])
            with hub._lock:
                hub.body_bytes[file] += len(body[i : i + 64 * 1024])
        if cut is not None:  # the client sees a body shorter than Content-Length, then the connection closes
            self.wfile.flush()
            self.close_connection = True


# -- a small repository in the official layout ---------------------------------------------------------------
def _torch_bytes(obj, header: bytes = b"PK") -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return header + buf.getvalue()[2:]


SPEAKER_FILE = "sv/pretrained_eres2netv2w24s4ep4.ckpt"


def speaker_stand_in(seed: int = 0) -> bytes:
    """The ERes2NetV2 speaker encoder as a small file with the key layout that identifies it (not runnable:
    only v2Pro models run it)."""
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen).half()  # noqa: E731
    layout = {"conv1.weight": (8, 1, 3, 3), "layer4.0.conv1.weight": (8, 8, 3, 3), "seg_1.weight": (16, 32)}
    return _torch_bytes({key: rand(*shape) for key, shape in layout.items()})


def build_repo(work: Path, seed: int = 0) -> dict[str, bytes]:
    """Files for every pretrained item plus a few the downloader must leave alone.

    GPT and v2 SoVITS generator are real tiny models in the official format (tests/tiny_models.py); the
    discriminators, speaker encoder and v2Pro generators are small files with the key layout that
    identifies them (their content is not run), v2Pro ones with upstream's ``05``/``06`` headers. The
    encoder folders hold small stand-ins under the official file names.
    """
    from tiny_models import save_tiny_gpt, save_tiny_sovits

    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen).half()  # noqa: E731

    def pro_generator(taps: int) -> dict:
        weight = {
            "enc_p.text_embedding.weight": rand(732, 8),
            "sv_emb.weight": rand(8, 20480),
            "dec.ups.0.weight": rand(8, 4, taps),
        }
        return {"weight": weight, "config": {"model": {"version": "v2Pro"}}, "info": "pretrained"}

    disc = {
        "weight": {
            "discriminators.0.convs.0.weight": rand(16, 1, 15),
            "discriminators.1.conv_post.weight": rand(1, 4, 3, 1),
        }
    }
    files = {
        "gsv-v2final-pretrained/s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt": save_tiny_gpt(
            work / "gpt.ckpt", seed
        ).read_bytes(),
        "gsv-v2final-pretrained/s2G2333k.pth": save_tiny_sovits(work / "s2G.pth", seed).read_bytes(),
        "gsv-v2final-pretrained/s2D2333k.pth": _torch_bytes(disc),
        SPEAKER_FILE: speaker_stand_in(seed),
        "s1v3.ckpt": save_tiny_gpt(work / "s1v3.ckpt", seed + 1).read_bytes(),
        "v2Pro/s2Gv2Pro.pth": _torch_bytes(pro_generator(16), b"05"),
        "v2Pro/s2Dv2Pro.pth": _torch_bytes(
            {"weight": {"discriminators.7.conv_post.weight": rand(1, 4, 3, 1)}}
        ),
        "v2Pro/s2Gv2ProPlus.pth": _torch_bytes(pro_generator(20), b"06"),
        "v2Pro/s2Dv2ProPlus.pth": _torch_bytes(
            {"weight": {"discriminators.9.conv_post.weight": rand(1, 2, 3, 1)}}
        ),
        # Not requested by anyone: must never be fetched.
        "s2G488k.pth": bytes(range(256)) * 40,
        "README.md": b"# GPT-SoVITS pretrained models\n",
        ".gitattributes": b"*.pth filter=lfs diff=lfs merge=lfs -text\n",
    }
    noise = torch.randint(0, 256, (3, 40_000), generator=gen, dtype=torch.uint8)
    for i, (folder, model_type) in enumerate(
        (("chinese-hubert-base", "hubert"), ("chinese-roberta-wwm-ext-large", "bert"))
    ):
        files[f"{folder}/config.json"] = json.dumps({"model_type": model_type, "hidden_size": 768}).encode()
        files[f"{folder}/pytorch_model.bin"] = noise[i].numpy().tobytes()
    files["chinese-hubert-base/preprocessor_config.json"] = b'{"sampling_rate": 16000}\n'
    files["chinese-roberta-wwm-ext-large/tokenizer.json"] = b'{"version": "1.0", "model": {}}\n'
    return files
