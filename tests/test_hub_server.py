"""The local Hub's protocol details, checked with plain HTTP (no huggingface_hub client)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from aezoo.testing.hub_server import LocalHub


def _call(method: str, url: str, body: object = None, token: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_protocol_errors_and_auth() -> None:
    with LocalHub(token="secret-token") as hub:
        create = f"{hub.url}/api/repos/create"
        status, _, body = _call("POST", create, {"name": "x", "organization": "org"})
        assert status == 401 and b"secret-token" not in body
        assert _call("POST", create, {"name": "x", "organization": "org"}, "secret-token")[0] == 200
        status, _, body = _call("POST", create, {"name": "x", "organization": "org"}, "secret-token")
        assert status == 409 and json.loads(body)["url"] == f"{hub.url}/org/x"
        status, headers, _ = _call("GET", f"{hub.url}/api/models/org/y")
        assert status == 404 and headers["X-Error-Code"] == "RepoNotFound"
        status, headers, _ = _call("GET", f"{hub.url}/api/models/org/x/revision/nope")
        assert status == 404 and headers["X-Error-Code"] == "RevisionNotFound"
        status, headers, _ = _call("HEAD", f"{hub.url}/org/x/resolve/main/missing.bin")
        assert status == 404 and headers["X-Error-Code"] == "EntryNotFound" and len(headers["X-Repo-Commit"]) == 40
        status, headers, body = _call("GET", f"{hub.url}/org/x/resolve/main/.gitattributes")
        assert status == 200 and headers["ETag"].strip('"') and b"filter=lfs" in body
        info = json.loads(_call("GET", f"{hub.url}/api/models/org/x")[2])
        assert len(info["sha"]) == 40 and [s["rfilename"] for s in info["siblings"]] == [".gitattributes"]
        assert _call("GET", f"{hub.url}/api/models/org/x/xet-read-token/main")[0] == 501
        hub.fail_status = 503
        assert _call("GET", f"{hub.url}/api/models/org/x")[0] == 503
        hub.fail_status = None
        hub.down = True
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{hub.url}/api/models/org/x", timeout=5)
        hub.down = False
        assert _call("GET", f"{hub.url}/api/models/org/x")[0] == 200
        assert "secret-token" not in repr(hub.requests)
