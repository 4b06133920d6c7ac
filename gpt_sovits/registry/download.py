"""Download the official pretrained files from the Hugging Face hub (or a mirror of it), stdlib only.

The protocol is the one ``huggingface_hub`` speaks:

* listing: ``GET {endpoint}/api/models/{repo}/tree/{revision}/{path}?recursive=..&expand=false`` answers a JSON
  list of ``{type, path, size, oid, lfs?: {oid, size}}``, paged with a ``Link: <..>; rel="next"`` header;
* content: ``GET {endpoint}/{repo}/resolve/{revision}/{path}``, which for LFS files redirects to a CDN.

Each file is written to ``<name>.part`` (resumed with ``Range: bytes=N-`` after an interruption), verified
(LFS files by their sha256, small git files by their git blob sha1) and only then renamed into place. A file
already in place with the right hash is skipped; a different file in place is never overwritten.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gpt_sovits.errors import GPTSoVITSError
from gpt_sovits.registry.layout import HF_REPO, IMPORT_COMMAND, PretrainedItem, resolve_items
from gpt_sovits.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
MIRROR_HINT = "HF_ENDPOINT=https://hf-mirror.com"
USER_AGENT = "gpt_sovits-studio/0.1 (urllib)"
CHUNK_BYTES = 1 << 20

# (file path in the repository, bytes done, bytes total). It may raise to abort; the .part stays for resuming.
ProgressCallback = Callable[[str, int, int], None]


class DownloadError(GPTSoVITSError):
    """A download failed; the message says which file and what to do."""


class HubUnreachableError(DownloadError):
    """The hub (or mirror) could not be contacted at all."""


class HubNotFoundError(DownloadError):
    """The repository, revision, folder or file does not exist on the hub (HTTP 404)."""


class IntegrityError(DownloadError):
    """A downloaded file does not have the hash the hub lists for it."""


class _Transient(Exception):
    """A failure worth retrying: connection refused/reset, timeout, truncated body, HTTP 5xx/429."""


@dataclass(frozen=True)
class RemoteFile:
    """A file in the hub repository. ``sha256`` is set for LFS files; ``blob_oid`` is the git object id."""

    path: str
    size: int
    blob_oid: str
    sha256: str | None = None

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: ``downloaded``, ``present`` (already there, hash verified) or ``kept``
    (a different file is in place and was left alone; ``note`` says what to do)."""

    path: str
    local: Path
    size: int
    status: str
    transferred: int = 0
    note: str = ""


@dataclass(frozen=True)
class DownloadReport:
    """The outcome of :func:`download_pretrained`, one :class:`FileResult` per file, in order."""

    dest_dir: Path
    endpoint: str
    revision: str
    items: tuple[PretrainedItem, ...]
    files: tuple[FileResult, ...] = field(default_factory=tuple)

    def with_status(self, status: str) -> tuple[FileResult, ...]:
        return tuple(f for f in self.files if f.status == status)

    @property
    def ok(self) -> bool:
        """True when every file is now in place with the hub's content."""
        return not self.with_status("kept")

    @property
    def transferred(self) -> int:
        return sum(f.transferred for f in self.files)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never hand the token to another host (the CDN gets signed URLs instead)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


def _local_path(dest_dir: Path, repo_path: str) -> Path:
    """``dest_dir / repo_path``, refusing names from the server that would leave ``dest_dir``."""
    parts = PurePosixPath(repo_path).parts
    if (
        not parts
        or repo_path.startswith("/")
        or "\\" in repo_path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise DownloadError(f"The hub listed an unsafe file name {repo_path!r}; refusing to write it.")
    return Path(dest_dir).joinpath(*parts)


def file_digest(path: Path, remote: RemoteFile) -> str:
    """The hash the hub lists for ``remote``, computed over the local ``path`` (sha256 or git blob sha1)."""
    if remote.is_lfs:
        h = hashlib.sha256()
    else:
        h = hashlib.sha1()
        h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def _expected(remote: RemoteFile) -> str:
    return (remote.sha256 or remote.blob_oid).lower()


class HubClient:
    """Talks to one repository at one revision on one endpoint (the hub or a mirror)."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        repo: str = HF_REPO,
        revision: str = "main",
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        retries: int = 4,
        retry_wait_s: float = 1.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.repo = repo
        self.revision = revision
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_wait_s = retry_wait_s
        self._opener = urllib.request.build_opener(_Redirects)
        self._trees: dict[tuple[str, bool], list[dict]] = {}

    # -- HTTP -------------------------------------------------------------------------------------------
    def _request(self, url: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """Open ``url``; map failures to :class:`_Transient` (retry) or a :class:`DownloadError`."""
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            return self._opener.open(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                raise HubNotFoundError(f"{url} answered 404 (not found).") from None
            if exc.code in (401, 403):
                raise DownloadError(
                    f"{self.endpoint} refused access to {url} (HTTP {exc.code}). The repository {self.repo} is "
                    "public; check the endpoint, or pass a Hugging Face token if your mirror needs one."
                ) from None
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise _Transient(f"HTTP {exc.code} from {url}") from None
            if exc.code == 416:
                raise _Transient("range not satisfiable") from exc
            raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}.") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Transient(f"{type(reason).__name__}: {reason}") from None

    def _retrying(self, what: str, call: Callable[[], object]) -> object:
        """Run ``call`` until it does not raise :class:`_Transient`, at most ``retries`` more times."""
        for attempt in range(self.retries + 1):
            try:
                return call()
            except _Transient as exc:
                last = exc
                log.warning("%s failed (%s); attempt %d of %d", what, exc, attempt + 1, self.retries + 1)
                if attempt < self.retries:
                    time.sleep(self.retry_wait_s * (attempt + 1))
        raise HubUnreachableError(
            f"Could not {what} from {self.endpoint} ({last}). Check the internet connection; where "
            f"huggingface.co is blocked set {MIRROR_HINT} (or pass --endpoint https://hf-mirror.com), or copy "
            f"the files from a computer that has them with `{IMPORT_COMMAND}`."
        )

    # -- listing ----------------------------------------------------------------------------------------
    def _tree(self, folder: str, recursive: bool) -> list[dict]:
        """All entries of ``folder`` ("" = repository root), following the hub's page links."""
        if (folder, recursive) in self._trees:
            return self._trees[(folder, recursive)]
        url = f"{self.endpoint}/api/models/{self.repo}/tree/{urllib.parse.quote(self.revision, safe='')}"
        if folder:
            url += "/" + urllib.parse.quote(folder, safe="")
        url += "?" + urllib.parse.urlencode({"recursive": str(recursive).lower(), "expand": "false"})
        entries: list[dict] = []
        while url:

            def fetch(page_url: str = url) -> tuple[object, str | None]:
                with self._request(page_url, {"Accept": "application/json"}) as resp:
                    try:
                        body = json.loads(resp.read().decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        body = None
                    return body, _next_link(resp.headers.get("Link"), page_url)

            try:
                page, url = self._retrying(f"list {folder or 'the repository'}", fetch)  # type: ignore[misc]
            except HubNotFoundError:
                raise HubNotFoundError(
                    f"{self.repo} at revision '{self.revision}' on {self.endpoint} has no folder "
                    f"'{folder or '/'}' (HTTP 404). Check the revision and the endpoint ({MIRROR_HINT} is a "
                    "known-good mirror)."
                ) from None
            if not isinstance(page, list):
                raise DownloadError(
                    f"{self.endpoint} did not answer like a Hugging Face hub when listing {self.repo} (no JSON "
                    f"file list). Check the endpoint URL; {MIRROR_HINT} is a known-good mirror."
                )
            entries += [e for e in page if isinstance(e, dict)]
        self._trees[(folder, recursive)] = entries
        return entries

    def remote_files(self, item: PretrainedItem) -> list[RemoteFile]:
        """The repository files that make up ``item`` (one file, or every file under the folder)."""
        if item.is_dir:
            prefix = item.path.rstrip("/") + "/"
            found = [_remote(e) for e in self._tree(item.path, True) if e.get("type") == "file"]
            found = [f for f in found if f.path.startswith(prefix)]
        else:
            parent = item.path.rpartition("/")[0]
            entries = self._tree(parent, False)
            found = [_remote(e) for e in entries if e.get("type") == "file" and e.get("path") == item.path]
        if not found:
            raise HubNotFoundError(
                f"{self.repo} at revision '{self.revision}' on {self.endpoint} has no "
                f"{'files under ' if item.is_dir else 'file '}'{item.path}'. Check the revision and the endpoint."
            )
        return found

    # -- content ----------------------------------------------------------------------------------------
    def resolve_url(self, path: str) -> str:
        rev = urllib.parse.quote(self.revision, safe="")
        return f"{self.endpoint}/{self.repo}/resolve/{rev}/{urllib.parse.quote(path)}"

    def download_file(
        self, remote: RemoteFile, local: Path, progress: ProgressCallback | None = None
    ) -> FileResult:
        """Bring ``remote`` to ``local`` (resume, verify, atomic rename); never replace a different file."""
        if local.exists():
            return self._check_existing(remote, local)
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(local.name + ".part")
        counter = [0]
        attempts = 0
        while True:
            have = part.stat().st_size if part.exists() else 0
            if have > remote.size:  # not a prefix of this file (another revision?): start over
                part.unlink()
                continue
            if have == remote.size:
                break
            try:
                self._transfer(remote, part, have, counter, progress)
                attempts = 0
            except HubNotFoundError:
                raise HubNotFoundError(
                    f"{self.endpoint} lists {remote.path} in {self.repo} but answers 404 (not found) for its "
                    f"content at {self.resolve_url(remote.path)}. Try again later, or another endpoint "
                    f"({MIRROR_HINT})."
                ) from None
            except _Transient as exc:
                if str(exc) == "range not satisfiable":
                    part.unlink(missing_ok=True)
                grew = part.exists() and part.stat().st_size > have
                attempts = 0 if grew else attempts + 1  # progress was made: a flaky line is not a dead one
                if attempts > self.retries:
                    raise HubUnreachableError(
                        f"Downloading {remote.path} from {self.endpoint} kept failing ({exc}). The partial file "
                        f"{part} is kept: run the download again to resume, or set {MIRROR_HINT}."
                    ) from None
                log.warning("%s: %s; resuming", remote.path, exc)
                time.sleep(self.retry_wait_s * attempts)
        got = file_digest(part, remote)
        if got != _expected(remote):
            part.unlink()
            raise IntegrityError(
                f"{remote.path}: the downloaded file is damaged ({'sha256' if remote.is_lfs else 'git sha1'} "
                f"expected {_expected(remote)}, got {got}); it was deleted. Run the download again; if it "
                f"repeats, the mirror {self.endpoint} serves a damaged file: try another endpoint."
            )
        if local.exists():  # appeared while we were downloading: still never overwrite
            part.unlink()
            return self._check_existing(remote, local)
        os.replace(part, local)
        return FileResult(remote.path, local, remote.size, "downloaded", counter[0])

    def _transfer(
        self,
        remote: RemoteFile,
        part: Path,
        offset: int,
        counter: list[int],
        progress: ProgressCallback | None,
    ) -> None:
        """One GET from ``offset``; appends to ``part`` (206) or rewrites it (200). Short body: _Transient."""
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with self._request(self.resolve_url(remote.path), headers) as resp:
            start = _range_start(resp.headers.get("Content-Range")) if resp.status == 206 else 0
            if start is None or start > offset:
                raise _Transient(f"unexpected Content-Range {resp.headers.get('Content-Range')!r}")
            done = start
            with open(part, "r+b" if start else "wb") as f:
                f.truncate(start)
                f.seek(start)
                if progress:
                    progress(remote.path, done, remote.size)
                try:
                    while chunk := resp.read1(CHUNK_BYTES):
                        f.write(chunk)
                        done += len(chunk)
                        counter[0] += len(chunk)
                        if progress:
                            progress(remote.path, min(done, remote.size), remote.size)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"connection lost after {done} of {remote.size} bytes ({exc})") from None
        if done < remote.size:
            raise _Transient(f"connection closed after {done} of {remote.size} bytes")

    def _check_existing(self, remote: RemoteFile, local: Path) -> FileResult:
        if (
            local.is_file()
            and local.stat().st_size == remote.size
            and file_digest(local, remote) == _expected(remote)
        ):
            return FileResult(remote.path, local, remote.size, "present")
        return FileResult(
            remote.path,
            local,
            remote.size,
            "kept",
            note=(
                f"{local} is not the hub's file ({local.stat().st_size if local.is_file() else 'folder'} bytes, "
                f"the hub's has {remote.size}); it was left untouched. Move it elsewhere and run the download "
                "again to get the official file."
            ),
        )


def _remote(entry: dict) -> RemoteFile:
    lfs = entry.get("lfs") if isinstance(entry.get("lfs"), dict) else None
    try:
        return RemoteFile(
            path=str(entry["path"]),
            size=int(lfs["size"] if lfs else entry["size"]),
            blob_oid=str(entry.get("oid", "")),
            sha256=str(lfs["oid"]) if lfs else None,
        )
    except (KeyError, TypeError, ValueError):
        raise DownloadError(f"The hub listed a file without path/size/hash: {entry!r}.") from None


def _next_link(link_header: str | None, base: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (GitHub-style paging), made absolute."""
    for target, params in re.findall(r"<([^>]*)>\s*((?:;\s*[^,;]+)*)", link_header or ""):
        if re.search(r'rel\s*=\s*"?next"?', params):
            return urllib.parse.urljoin(base, target)
    return None


def _range_start(content_range: str | None) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)", content_range or "")
    return int(m.group(1)) if m else None


def download_pretrained(
    dest_dir: Path,
    items: Iterable[str | PretrainedItem] | None = None,
    endpoint: str = DEFAULT_ENDPOINT,
    revision: str = "main",
    progress: ProgressCallback | None = None,
    token: str | None = None,
    *,
    repo: str = HF_REPO,
    retries: int = 4,
    retry_wait_s: float = 1.0,
    timeout_s: float = 30.0,
) -> DownloadReport:
    """Download pretrained items (keys or set names, default the ``v2`` set) into ``dest_dir``.

    Every file is listed first (so a wrong endpoint or revision fails before anything is written), then each
    is downloaded, resumed and verified. Files already present with the right hash are skipped; different
    files in place are kept and reported (``report.ok`` is then False). Raises :class:`DownloadError`
    subclasses: :class:`HubUnreachableError`, :class:`HubNotFoundError`, :class:`IntegrityError`.
    """
    chosen = resolve_items(items)
    client = HubClient(
        endpoint, repo, revision, token, timeout_s=timeout_s, retries=retries, retry_wait_s=retry_wait_s
    )
    plan = [
        (remote, _local_path(dest_dir, remote.path))
        for item in chosen
        for remote in client.remote_files(item)
    ]
    results = []
    for remote, local in plan:
        result = client.download_file(remote, local, progress)
        log.info("%s: %s", remote.path, result.status)
        results.append(result)
    return DownloadReport(Path(dest_dir), client.endpoint, revision, chosen, tuple(results))


def download_with_settings(
    settings: Settings,
    items: Iterable[str | PretrainedItem] | None = None,
    *,
    endpoint: str | None = None,
    **kwargs,
) -> DownloadReport:
    """:func:`download_pretrained` into ``settings.pretrained_dir`` from ``endpoint`` or ``settings.hf_endpoint``."""
    return download_pretrained(settings.pretrained_dir, items, endpoint or settings.hf_endpoint, **kwargs)
