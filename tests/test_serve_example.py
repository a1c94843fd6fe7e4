"""examples/serve/server.py: started on 127.0.0.1, it answers as the Python detector does.

The server runs in a subprocess (as it would be deployed) on a free port; every test kills it at
the end, whatever happens. Scores are compared with :class:`AnomalyDetector` to 1e-6 (the runtime
sums in another order than PyTorch), p-values and normalized scores exactly where a score is not
within 1e-6 of a calibration score, decisions exactly where a score is not within 1e-6 of the
threshold; and with ``run_exported_detector`` on the same file exactly. The drift report is
compared with ``DriftDetector.test`` on the same window, exactly (its permutations are seeded).
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import aezoo
from aezoo.applications.anomaly import AnomalyDetector
from aezoo.applications.detector_export import export_detector, run_exported_detector

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxscript", "onnxruntime")),
    reason='the serving example needs pip install "aezoo[export]"',
)

SERVER = Path(__file__).resolve().parents[1] / "examples" / "serve" / "server.py"
SHAPE = (1, 8, 8)
WINDOW = 50
START_TIMEOUT = 60  # seconds to print the port: importing torch and aezoo for --drift on a busy machine


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny calibrated detector exported to ONNX, and a drift detector fitted on the same model."""
    folder = tmp_path_factory.mktemp("serve")
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=SHAPE, latent_dim=2).eval()
    model.save_pretrained(folder / "model")
    normal = torch.rand(400, *SHAPE, generator=torch.Generator().manual_seed(1))
    detector = AnomalyDetector.fit(model, normal, target_fpr=0.1)
    export_detector(detector, folder / "detector.onnx")
    drift = aezoo.DriftDetector.fit(model, normal, n_permutations=199, model_ref=str(folder / "model"))
    drift.save(folder / "drift.json")
    return {"detector": detector, "onnx": folder / "detector.onnx", "drift": drift, "drift_json": folder / "drift.json"}


class Server:
    """examples/serve/server.py in a subprocess, and a client for it."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, str(SERVER), "--port", "0", "--threads", "1", *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(START_TIMEOUT)
        if not line or "http://127.0.0.1:" not in line[0]:
            self.stop()
            raise AssertionError(f"the server did not start: {line!r}\n{self.process.stderr.read()}")  # type: ignore[union-attr]
        self.port = int(line[0].rsplit(":", 1)[1])

    def request(self, method: str, path: str, body: bytes | None = None, kind: str = "application/json") -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body, {"Content-Type": kind} if body is not None else {})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def score(self, x: torch.Tensor, query: str = "") -> dict[str, Any]:
        status, answer = self.request("POST", f"/score{query}", json.dumps({"images": x.tolist()}).encode())
        assert status == 200, answer
        return answer

    def stop(self) -> tuple[int | None, str]:
        """SIGTERM (a clean shutdown), then SIGKILL if it hangs; the exit status and what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                out, _ = self.process.communicate(timeout=10)
                return self.process.returncode, out
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.communicate(timeout=10)
        return self.process.returncode, ""


def _started(*args: str) -> Iterator[Server]:
    server = Server(*args)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(files) -> Iterator[Server]:
    """A server without --drift: scoring only, no aezoo imported."""
    yield from _started("--detector", str(files["onnx"]), "--max-batch", "64", "--max-body", "100000")


def _batch(n: int = 64, seed: int = 2) -> torch.Tensor:
    """Half normal, half anomalous (brighter and noisier): both decisions occur."""
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.rand(n // 2, *SHAPE, generator=g), 2 * torch.rand(n - n // 2, *SHAPE, generator=g)])


def test_scores_and_decisions_are_the_python_detectors(server, files) -> None:
    detector: AnomalyDetector = files["detector"]
    x = _batch()
    answer = server.score(x)
    assert answer["n"] == 64 and answer["threshold"] == pytest.approx(detector.threshold, rel=1e-7)  # float32 default
    dtypes = {
        "score": torch.float32,
        "normalized_score": torch.float64,
        "p_value": torch.float64,
        "is_anomaly": torch.bool,
    }
    got = {k: torch.tensor(answer[k], dtype=dtype) for k, dtype in dtypes.items()}  # JSON numbers are doubles
    scores = detector.score(x)
    torch.testing.assert_close(got["score"], scores, atol=1e-6, rtol=1e-5)
    calib = detector.calibration_scores
    assert calib is not None
    clear = ((got["score"].double()[:, None] - calib[None, :]).abs() > 1e-6).all(1)
    assert clear.float().mean() > 0.9
    assert torch.equal(got["p_value"][clear], detector.p_value(x)[clear])
    assert torch.equal(got["normalized_score"][clear], detector.normalized_score(x)[clear])
    at_threshold = (scores - detector.threshold).abs() <= 1e-6
    assert torch.equal(got["is_anomaly"][~at_threshold], detector.predict(x)[~at_threshold])
    assert 0 < int(got["is_anomaly"].sum()) < len(x)
    # the same file in-process: the same numbers, bit for bit
    direct = run_exported_detector(files["onnx"], x)
    for name, value in got.items():
        assert torch.equal(value, direct[name]), name


def test_npy_bodies_and_a_moved_threshold(server, files) -> None:
    x = _batch(10, seed=3)
    buffer = io.BytesIO()
    np.save(buffer, x.numpy().astype(">f8"))  # another dtype and byte order: cast to float32 as the JSON is
    status, answer = server.request("POST", "/score", buffer.getvalue(), "application/x-npy")
    assert status == 200 and answer == server.score(x)
    moved = float(files["detector"].score(x).median())
    flagged = server.score(x, f"?threshold={moved}")
    assert flagged["threshold"] == moved
    assert flagged["is_anomaly"] == [s > np.float32(moved) for s in flagged["score"]]
    assert flagged["p_value"] == answer["p_value"]  # the threshold moves the decisions only


@pytest.mark.parametrize(
    ("path", "body", "kind", "status", "message"),
    [
        (
            "/score",
            {"images": torch.rand(2, 64).tolist()},
            None,
            400,
            r"expected images of shape (N, 1, 8, 8), got (2, 64)",
        ),
        ("/score", {"images": [[[[0.5]]], [[[0.5, 0.5]]]]}, None, 400, 'send {"images": nested lists of numbers}'),
        ("/score", {"pictures": []}, None, 400, 'send {"images"'),
        ("/score", b"not json", None, 400, 'send {"images"'),
        ("/score", {"images": [[[[float("nan")] * 8] * 8]]}, None, 400, "NaN or infinite"),
        ("/score", {"images": torch.rand(65, *SHAPE).tolist()}, None, 413, "over the limit of 64 (--max-batch)"),
        ("/score", {"images": [], "padding": "x" * 100_000}, None, 413, "over the limit of 100000 (--max-body)"),
        ("/score", b"\x93NUMPY\x01\x00" + b"{}", "application/x-npy", 400, "not a .npy file"),
        ("/score", b"abc", "text/plain", 415, "send application/json"),
        ("/score?threshold=nan", {"images": []}, None, 400, "threshold must be a finite number"),
        ("/nowhere", {}, None, 404, "post images to /score"),
    ],
)
def test_bad_requests_are_clear_json_errors(server, path: str, body, kind, status: int, message: str) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    got, answer = server.request("POST", path, data, kind or "application/json")
    assert got == status and message in answer["error"], answer
    assert server.request("GET", "/health")[1]["status"] == "ok"  # and the server goes on


def test_a_uint8_npy_needs_the_preprocessing(server) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, *SHAPE), dtype=np.uint8))
    status, answer = server.request("POST", "/score", buffer.getvalue(), "application/x-npy")
    assert status == 400 and "after the preprocessing" in answer["error"]


def test_health_says_what_is_served_and_drift_is_off_without_a_drift_detector(server, files) -> None:
    status, health = server.request("GET", "/health")
    d = files["detector"]
    assert status == 200 and health["architecture"] == "linear" and health["input_shape"] == list(SHAPE)
    assert health["threshold"] == d.threshold and health["target_fpr"] == 0.1 and health["score"] == "mse"
    assert health["limits"] == {"max_batch": 64, "max_body_bytes": 100000, "window": 200} and not health["drift"]
    status, report = server.request("GET", "/drift")
    assert status == 200 and report["status"] == "off" and report["test"] is None
    assert report["window"]["n"] == min(report["window"]["seen"], 200) and report["target_fpr"] == 0.1


def test_drift_over_the_sliding_window_is_the_drift_detectors(files) -> None:
    drift: aezoo.DriftDetector = files["drift"]
    args = ("--detector", str(files["onnx"]), "--drift", str(files["drift_json"]), "--window", str(WINDOW))
    for server in _started(*args):
        like = torch.rand(80, *SHAPE, generator=torch.Generator().manual_seed(5))  # the reference's distribution
        server.score(like[:30])
        status, report = server.request("GET", "/drift")
        assert status == 200 and report["status"] == "filling" and report["window"]["n"] == 30
        server.score(like[30:])  # the window now holds the last 50 of the 80
        report = server.request("GET", "/drift")[1]
        assert report["status"] == "tested" and report["window"]["n"] == WINDOW and report["window"]["seen"] == 80
        want = drift.test(like[-WINDOW:]).to_dict()
        got = report["test"]
        assert got["p_value"] == want["p_value"] and got["ks_p_values"] == pytest.approx(want["ks_p_values"])
        assert got["mmd2"] == pytest.approx(want["mmd2"], abs=1e-6) and got["n"] == WINDOW and not got["drift"]
        moved = like[:WINDOW] + 0.5
        server.score(moved)
        report = server.request("GET", "/drift")[1]
        assert report["test"]["drift"] and report["test"]["p_value"] <= 0.05
        assert report["flagged_fraction"] == 1.0  # brighter images reconstruct badly too
        code, printed = server.stop()
        assert code == 0 and printed.strip() == "stopped"  # SIGTERM: a clean shutdown


def test_a_drift_detector_of_other_weights_is_refused_at_start(files, tmp_path: Path) -> None:
    other = aezoo.create("linear", input_shape=SHAPE, latent_dim=2)
    other.save_pretrained(tmp_path / "other")
    aezoo.DriftDetector.fit(other, torch.rand(50, *SHAPE), n_permutations=99, model_ref=str(tmp_path / "other")).save(
        tmp_path / "drift.json"
    )
    command = [sys.executable, str(SERVER), "--detector", str(files["onnx"]), "--drift", str(tmp_path / "drift.json")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT)
    assert done.returncode == 1 and "was fitted on other weights" in done.stderr and "Traceback" not in done.stderr
