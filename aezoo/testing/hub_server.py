"""A local, in-memory Hugging Face Hub for offline tests: stdlib ``http.server`` and threads only.

It speaks the part of the Hub's HTTP protocol that the real ``huggingface_hub`` client uses for what
aezoo does with model repos: create a repo and a branch, commit a folder (``upload_folder``: regular
files inline, large or binary files through the git-LFS batch API), read repo info with the files'
hashes (``model_info(files_metadata=True)``) and download files with the headers its cache relies on
(``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``, ``X-Linked-Size``; ``Range`` for a resumed download).
Every commit gets a real 40-hex id and stays addressable, so pinning to an older commit returns the
older bytes.

>>> from aezoo.testing.hub_server import LocalHub
>>> with LocalHub(token="hf_test") as hub:
...     hub.url.startswith("http://127.0.0.1:")
True

Endpoints (``{rev}`` a URL-quoted branch or commit):

* ``POST /api/repos/create`` (409 with ``url`` when the repo exists), ``POST /api/validate-yaml`` (the card)
* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` (``sha``, ``siblings``; ``blobs``)
* ``POST /api/models/{repo}/branch/{branch}``
* ``POST /api/models/{repo}/preupload/{rev}``, ``POST /api/models/{repo}/commit/{rev}`` (NDJSON)
* ``POST /{repo}.git/info/lfs/objects/batch``, ``PUT`` of the bytes (sha256 and size verified),
  ``POST /{repo}.git/info/lfs/objects/verify``
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` (``Range`` supported)
* Xet token routes answer 501: uploads and downloads go through plain HTTP and nothing is sent to
  the real Xet service (the client must run with ``HF_HUB_DISABLE_XET=1``; the pytest fixture does).

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) and
``X-Error-Message`` like the Hub's. Writes need ``Authorization: Bearer <token>``; without the
configured token they get 401. The token is never written into a response or the request log.

Fault injection: ``hub.down = True`` closes the port (connection refused) until set back to False;
``hub.fail_status = 503`` answers every request with that status; ``hub.delay = 2.0`` sleeps before
answering; ``hub.truncate_downloads = 1`` sends half of the next file body, then hangs up;
``hub.trickle = 0.2`` sends file bodies 64 bytes at a time, sleeping that many seconds between them
(a server that never stalls long enough for a read timeout but never finishes either);
``hub.corrupt_downloads = 1`` serves the next file body with one byte changed (the headers still
advertise the real hash and size).
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["LocalHub"]

_API_ACTIONS = {"revision", "preupload", "commit", "branch", "xet-write-token", "xet-read-token"}
_GITATTRIBUTES = b"".join(
    f"{p} filter=lfs diff=lfs merge=lfs -text\n".encode()
    for p in (
        "*.bin",
        "*.ckpt",
        "*.h5",
        "*.npy",
        "*.npz",
        "*.onnx",
        "*.pt",
        "*.pth",
        "*.safetensors",
        "*.tar.gz",
        "*.zip",
        "*.pkl",
    )
)
_INVALID_TOKEN = "Invalid credentials in Authorization header"


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclasses.dataclass(frozen=True)
class _File:
    size: int
    blob_oid: str  # git oid: of the content, or of the LFS pointer for LFS files
    data: bytes | None = None  # regular files keep their bytes here
    lfs_oid: str | None = None  # sha256 of an LFS file's bytes, kept in the hub's LFS store


@dataclasses.dataclass
class _Commit:
    oid: str
    parent: str | None
    title: str
    date: str
    files: dict[str, _File]


@dataclasses.dataclass
class _Repo:
    repo_id: str
    private: bool
    created: str
    commits: dict[str, _Commit] = dataclasses.field(default_factory=dict)
    branches: dict[str, str] = dataclasses.field(default_factory=dict)


class _HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


class LocalHub:
    """An in-memory Hub on ``127.0.0.1`` and a free port; use as a context manager or ``start``/``stop``.

    ``token``: the one token accepted for writes (and for private repos); ``None`` accepts any.
    ``lfs_threshold``: files at least this large (or binary, or matching ``.gitattributes``) go to LFS.
    """

    def __init__(self, *, token: str | None = None, lfs_threshold: int = 10 * 1024 * 1024) -> None:
        self.token = token
        self.lfs_threshold = lfs_threshold
        self.fail_status: int | None = None  # answer every request with this status (e.g. 503)
        self.delay: float = 0.0  # seconds to sleep before answering (to test timeouts)
        self.truncate_downloads = 0  # this many next file downloads send half their body, then hang up
        self.trickle: float = 0.0  # seconds between 64-byte pieces of a file body (0: send at once)
        self.corrupt_downloads = 0  # this many next file downloads get one byte changed
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request served
        self._repos: dict[str, _Repo] = {}
        self._lfs: dict[str, bytes] = {}
        self._tickets: dict[str, str] = {}  # upload ticket -> oid
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._counter = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """The endpoint to give the client (``HF_ENDPOINT``)."""
        if not self._port:
            raise RuntimeError("LocalHub is not started; call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> LocalHub:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards)."""
        if self._server is not None:
            return self
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; connections to :attr:`url` are then refused. The repos are kept."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def down(self) -> bool:
        """``True`` while the port is closed (connection refused); set it to take the hub down or up."""
        return self._server is None

    @down.setter
    def down(self, value: bool) -> None:
        if value:
            self.stop()
        else:
            self.start()

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers for tests
    def repo_ids(self) -> list[str]:
        """Every repo id held, sorted."""
        with self._lock:
            return sorted(r.repo_id for r in self._repos.values())

    def commits(self, repo_id: str, branch: str = "main") -> list[str]:
        """Commit ids of ``branch``, newest first."""
        with self._lock:
            repo = self._repo(repo_id)
            oid: str | None = repo.branches[branch]
            out = []
            while oid is not None:
                out.append(oid)
                oid = repo.commits[oid].parent
            return out

    def file_bytes(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        """The bytes of ``path`` at ``revision``, as the Hub would serve them."""
        with self._lock:
            repo = self._repo(repo_id)
            f = self._resolve(repo, revision).files[path]
            return self._content(f)

    # ------------------------------------------------------------------ state (called under the lock)
    def _repo(self, repo_id: str) -> _Repo:
        repo = self._repos.get(repo_id)
        if repo is None:
            raise _HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _resolve(self, repo: _Repo, rev: str) -> _Commit:
        if rev in repo.branches:
            return repo.commits[repo.branches[rev]]
        if len(rev) >= 7 and all(c in "0123456789abcdef" for c in rev):
            found = [c for oid, c in repo.commits.items() if oid.startswith(rev)]
            if len(found) == 1:
                return found[0]
        raise _HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _content(self, f: _File) -> bytes:
        return f.data if f.data is not None else self._lfs[f.lfs_oid or ""]

    def _new_commit(self, repo: _Repo, parent: str | None, title: str, files: dict[str, _File]) -> _Commit:
        self._counter += 1
        h = hashlib.sha1(f"{repo.repo_id}\0{parent}\0{title}\0{time.time_ns()}\0{self._counter}".encode())
        for path in sorted(files):
            h.update(f"\0{path}\0{files[path].blob_oid}".encode())
        commit = _Commit(h.hexdigest(), parent, title, _now(), files)
        repo.commits[commit.oid] = commit
        return commit

    def _is_lfs(self, commit: _Commit, path: str, size: int, sample: bytes) -> bool:
        if size >= self.lfs_threshold or b"\0" in sample:
            return True
        attrs = commit.files.get(".gitattributes")
        patterns = []
        if attrs is not None and attrs.data is not None:
            for line in attrs.data.decode(errors="replace").splitlines():
                parts = line.split()
                if len(parts) > 1 and "filter=lfs" in parts[1:]:
                    patterns.append(parts[0])
        name = path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)

    def _authorized(self, headers: Any) -> bool:
        auth = headers.get("Authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        return given is not None and (self.token is None or given == self.token)


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.0"  # one request per connection: a stopped hub refuses the next one
    server_version = "aezoo-local-hub"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _dispatch(self) -> None:
        hub = self.hub
        split = urlsplit(self.path)
        hub.requests.append((self.command, split.path))
        if hub.delay:
            time.sleep(hub.delay)
        if hub.fail_status is not None:
            self._send(hub.fail_status, {"error": "the local hub is failing on purpose"})
            return
        try:
            with hub._lock:
                self._route(split.path, parse_qs(split.query))
        except _HubError as e:
            headers = {"X-Error-Message": e.message}
            if e.code:
                headers["X-Error-Code"] = e.code
            if e.commit:
                headers["X-Repo-Commit"] = e.commit
            self._send(e.status, {"error": e.message}, headers)
        except (TimeoutError, ConnectionError):
            pass
        except Exception as e:  # a bug in the local hub: answer 500 rather than dropping the connection
            self._send(500, {"error": f"local hub error: {type(e).__name__}: {e}"})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    def _send(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        self._send_head(status, len(data), headers or {}, content_type)
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_head(self, status: int, length: int, headers: dict[str, str], content_type: str) -> None:
        """Status line and headers, announcing ``length`` bytes of body (the fault knobs may send fewer, slower)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self) -> Any:
        raw = self._body()
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise _HubError(400, "Body is not valid JSON") from None

    def _require_write(self) -> None:
        if not self.hub._authorized(self.headers):
            raise _HubError(401, _INVALID_TOKEN)

    def _readable(self, repo: _Repo) -> None:
        if repo.private and not self.hub._authorized(self.headers):
            raise _HubError(401, "Repository not found", "RepoNotFound")

    # ------------------------------------------------------------------ routing
    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        m = self.command
        if parts[:3] == ["api", "repos", "create"] and m == "POST":
            return self._create_repo()
        if parts[:2] == ["api", "validate-yaml"] and m == "POST":
            self._body()
            return self._send(200, {"errors": [], "warnings": []})
        if parts[:2] == ["api", "models"] and len(parts) >= 3:
            rest = parts[2:]
            n = 1 if len(rest) > 1 and rest[1] in _API_ACTIONS else 2
            repo_id, action, args = "/".join(rest[:n]), (rest[n] if len(rest) > n else ""), rest[n + 1 :]
            return self._api(repo_id, action, args, query)
        if parts[:1] == ["_lfs"] and len(parts) == 3 and m == "PUT":
            return self._lfs_put(parts[2], query)
        if len(parts) >= 5 and parts[-4:-1] == ["info", "lfs", "objects"] and parts[-5].endswith(".git"):
            repo_id = "/".join(parts[:-4])[: -len(".git")]
            return self._lfs_api(repo_id, parts[-1])
        for n in (2, 1):
            if len(parts) > n + 1 and parts[n] == "resolve" and m in ("GET", "HEAD"):
                return self._resolve_file("/".join(parts[:n]), parts[n + 1], "/".join(parts[n + 2 :]))
        raise _HubError(404, f"{m} {path} is not served by the local hub")

    def _api(self, repo_id: str, action: str, args: list[str], query: dict[str, list[str]]) -> None:
        hub, m = self.hub, self.command
        if action in ("xet-write-token", "xet-read-token"):
            raise _HubError(501, "the local hub does not speak Xet; run the client with HF_HUB_DISABLE_XET=1")
        repo = hub._repo(repo_id)
        self._readable(repo)
        if action in ("", "revision") and m == "GET":
            commit = hub._resolve(repo, "/".join(args) if args else "main")
            return self._send(200, self._info(repo, commit, blobs=query.get("blobs", [""])[0] in ("1", "true", "True")))
        if action == "branch" and args and m == "POST":
            self._require_write()
            branch = "/".join(args)
            start = self._json().get("startingPoint") or "main"
            if branch in repo.branches:
                raise _HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = hub._resolve(repo, start).oid
            return self._send(200, {})
        if action == "preupload" and m == "POST":
            self._require_write()
            return self._preupload(repo, args[0] if args else "main", query)
        if action == "commit" and m == "POST":
            self._require_write()
            return self._commit(repo, args[0] if args else "main", query)
        raise _HubError(404, f"{m} /api/models/{repo_id}/{action} is not served by the local hub")

    # ------------------------------------------------------------------ repos
    def _create_repo(self) -> None:
        hub = self.hub
        self._require_write()
        payload = self._json()
        name, org = payload.get("name"), payload.get("organization")
        if not name:
            raise _HubError(400, "Missing repo name")
        if (payload.get("type") or "model") != "model":
            raise _HubError(400, "the local hub holds model repos only")
        repo_id = f"{org}/{name}" if org else str(name)
        url = f"{hub.url}/{repo_id}"
        if repo_id in hub._repos:
            return self._send(
                409,
                {"error": "You already created this model repo", "url": url},
                {"X-Error-Message": "You already created this model repo"},
            )
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = _Repo(repo_id, private, _now())
        init = hub._new_commit(
            repo,
            None,
            "initial commit",
            {".gitattributes": _File(len(_GITATTRIBUTES), _git_blob_oid(_GITATTRIBUTES), _GITATTRIBUTES)},
        )
        repo.branches["main"] = init.oid
        hub._repos[repo_id] = repo
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _info(self, repo: _Repo, commit: _Commit, *, blobs: bool) -> dict[str, Any]:
        siblings = []
        for path in sorted(commit.files):
            f = commit.files[path]
            s: dict[str, Any] = {"rfilename": path}
            if blobs:
                s.update(size=f.size, blobId=f.blob_oid)
                if f.lfs_oid:
                    s["lfs"] = {
                        "sha256": f.lfs_oid,
                        "size": f.size,
                        "pointerSize": len(_lfs_pointer(f.lfs_oid, f.size)),
                    }
            siblings.append(s)
        ns = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
        return {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": ns,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }

    # ------------------------------------------------------------------ uploads
    def _preupload(self, repo: _Repo, rev: str, query: dict[str, list[str]]) -> None:
        if query.get("create_pr"):
            raise _HubError(400, "the local hub does not support pull requests")
        commit = self.hub._resolve(repo, rev)
        files = []
        for item in self._json().get("files", []):
            path, size = item["path"], int(item["size"])
            sample = base64.b64decode(item.get("sample", ""))
            lfs = size > 0 and self.hub._is_lfs(commit, path, size, sample)
            old = commit.files.get(path)
            oid = None if old is None else (old.lfs_oid or old.blob_oid)
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": files, "commitOid": commit.oid})

    def _lfs_api(self, repo_id: str, op: str) -> None:
        hub = self.hub
        repo = hub._repo(repo_id)
        self._require_write()
        payload = self._json()
        if op == "verify":
            data = hub._lfs.get(str(payload.get("oid")))
            if data is None or len(data) != payload.get("size"):
                raise _HubError(404, "Object not found or has another size")
            return self._send(200, {"message": "ok"}, content_type="application/vnd.git-lfs+json")
        if op != "batch" or payload.get("operation") != "upload":
            raise _HubError(400, "only LFS batch uploads are supported by the local hub")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj["oid"]), int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in hub._lfs:
                ticket = hashlib.sha256(f"{oid}{time.time_ns()}{id(entry)}".encode()).hexdigest()
                hub._tickets[ticket] = oid
                entry["actions"] = {
                    "upload": {"href": f"{hub.url}/_lfs/{oid}/{size}?ticket={ticket}", "header": {}},
                    "verify": {"href": f"{hub.url}/{repo.repo_id}.git/info/lfs/objects/verify", "header": {}},
                }
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, size_text: str, query: dict[str, list[str]]) -> None:
        # /_lfs/{oid}/{size}?ticket=...: like a presigned URL, the ticket is the authorization.
        hub = self.hub
        ticket = query.get("ticket", [""])[0]
        oid = hub._tickets.get(ticket)
        if oid is None or not self.path.startswith(f"/_lfs/{oid}/"):
            raise _HubError(403, "Upload ticket is not valid")
        data = self._body()
        if len(data) != int(size_text) or hashlib.sha256(data).hexdigest() != oid:
            raise _HubError(400, f"Uploaded bytes do not match oid {oid} and size {size_text}")
        hub._lfs[oid] = data
        del hub._tickets[ticket]
        self._send(200, None, {"ETag": f'"{oid}"'})

    def _commit(self, repo: _Repo, rev: str, query: dict[str, list[str]]) -> None:
        hub = self.hub
        if query.get("create_pr"):
            raise _HubError(400, "the local hub does not support pull requests")
        if rev not in repo.branches:
            raise _HubError(
                404,
                f"Invalid rev id: {rev}" + (" (commits go to branches)" if rev in repo.commits else ""),
                "RevisionNotFound",
            )
        head = repo.commits[repo.branches[rev]]
        files = dict(head.files)
        title = "Upload"
        for line in self._body().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value", {})
            if key == "header":
                title = value.get("summary") or title
                parent = value.get("parentCommit")
                if parent and parent != head.oid:
                    raise _HubError(412, f"A commit has happened since {parent}; the branch is now at {head.oid}")
            elif key == "file":
                data = (
                    base64.b64decode(value["content"])
                    if value.get("encoding") == "base64"
                    else value["content"].encode()
                )
                files[value["path"]] = _File(len(data), _git_blob_oid(data), data)
            elif key == "lfsFile":
                oid = value["oid"]
                stored = hub._lfs.get(oid)
                if stored is None or ("size" in value and len(stored) != value["size"]):
                    raise _HubError(
                        400,
                        f"Your push was rejected because an LFS pointer pointed to a file that does not exist: {oid}",
                    )
                files[value["path"]] = _File(len(stored), _git_blob_oid(_lfs_pointer(oid, len(stored))), lfs_oid=oid)
            else:
                raise _HubError(400, f"Unknown commit operation {key!r}")
        commit = hub._new_commit(repo, head.oid, title, files)
        repo.branches[rev] = commit.oid
        self._send(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "hookOutput": "",
                "commitUrl": f"{hub.url}/{repo.repo_id}/commit/{commit.oid}",
            },
        )

    # ------------------------------------------------------------------ downloads
    def _resolve_file(self, repo_id: str, rev: str, path: str) -> None:
        hub = self.hub
        repo = hub._repo(repo_id)
        self._readable(repo)
        commit = hub._resolve(repo, rev)
        f = commit.files.get(path)
        if f is None:
            raise _HubError(404, "Entry not found", "EntryNotFound", commit.oid)
        data = hub._content(f)
        etag = f.lfs_oid or f.blob_oid
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if f.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{f.lfs_oid}"', "X-Linked-Size": str(f.size)})
        status, start = 200, 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and self.command == "GET":
            first, _, last = rng[6:].partition("-")
            start = int(first or 0)
            end = int(last) if last else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        content_type = "application/octet-stream"
        if hub.corrupt_downloads > 0 and self.command == "GET" and data:
            hub.corrupt_downloads -= 1
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if hub.trickle > 0 and self.command == "GET":
            self._send_head(status, len(data), headers, content_type)
            for i in range(0, len(data), 64):
                self.wfile.write(data[i : i + 64])
                self.wfile.flush()
                time.sleep(hub.trickle)
            return None
        if hub.truncate_downloads <= 0 or self.command == "HEAD":
            return self._send(status, data, headers, content_type)
        hub.truncate_downloads -= 1
        # Announce the whole body, send half of it, and hang up: an interrupted download.
        self._send_head(status, len(data), headers, content_type)
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
