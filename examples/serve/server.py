"""A minimal HTTP service for an exported aezoo anomaly detector: score posted images, report drift.

    python examples/serve/server.py --detector detector.onnx [--drift drift.json] [--host 127.0.0.1] [--port 8000]

Endpoints (every answer is JSON; an error is ``{"error": "..."}`` with a 4xx status):

* ``POST /score`` -- a batch of model inputs, as JSON ``{"images": [...]}`` (nested lists, shape
  ``(N, *input_shape)``) or as a ``.npy`` file (``Content-Type: application/x-npy``). Answers
  ``score``, ``normalized_score``, ``p_value``, ``is_anomaly`` per image, as the exported graph
  computes them. ``?threshold=0.05`` moves the threshold for this request.
* ``GET /drift`` -- the sliding window of the last ``--window`` images scored: how many the
  detector flagged, and, with ``--drift``, aezoo's ``DriftDetector`` test of their codes.
* ``GET /health`` -- what is served (the detector's metadata) and counters.

Scoring needs numpy and onnxruntime only (``pip install "aezoo[export]"``); aezoo and torch are
imported only for ``--drift``. See README.md beside this file for the design and its limits.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import signal
import sys
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import onnxruntime

SCORED = ("score", "normalized_score", "p_value", "is_anomaly")  # the outputs answered (not error_map)


class ClientError(Exception):
    """A request the service refuses: its HTTP status and a message saying what to send instead."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Detector:
    """The exported detector in one onnxruntime session (thread-safe), and what its metadata says."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        if not path.is_file():
            sys.exit(f"error: no detector at {str(path)!r}; export one with aezoo export ... --part detector")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # not the notice that the threshold input is not constant-folded
        options.intra_op_num_threads = threads  # 0: onnxruntime's choice (the machine's cores)
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get("aezoo.json", "{}"))
        if meta.get("part") != "detector":
            sys.exit(f"error: {path} is not an exported aezoo anomaly detector (aezoo export ... --part detector)")
        self.path, self.meta, self.info = path, meta, meta["detector"]
        self.input_shape = tuple(meta["input_shape"][1:])
        self.threshold = float(meta["inputs"]["threshold"]["default"])  # the calibrated one

    def __call__(self, x: np.ndarray, threshold: float | None) -> dict[str, np.ndarray]:
        feeds = {"input": x}
        if threshold is not None:
            feeds["threshold"] = np.array(threshold, dtype=np.float32)
        return dict(zip(SCORED, self.session.run(list(SCORED), feeds), strict=True))


class Window:
    """The last ``size`` images scored and their decisions: what ``GET /drift`` reports on."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: deque[np.ndarray] = deque(maxlen=size)
        self.flags: deque[bool] = deque(maxlen=size)
        self.seen = 0  # images scored since the start; identifies the window's content
        self.lock = threading.Lock()

    def add(self, x: np.ndarray, flags: np.ndarray) -> None:
        kept = x[-self.size :]  # copies of the rows that stay: a view would keep its whole batch alive
        with self.lock:
            self.images.extend(np.array(row) for row in kept)
            self.flags.extend(flags[-self.size :].tolist())
            self.seen += len(x)

    def snapshot(self) -> tuple[int, np.ndarray, np.ndarray]:
        with self.lock:
            images = np.stack(self.images) if self.images else np.zeros((0,))
            return self.seen, images, np.array(self.flags, dtype=bool)


class Drift:
    """aezoo's ``DriftDetector`` on the window's codes, tested once per window content (cached)."""

    def __init__(self, path: Path, detector: Detector, window: int, model: str | None) -> None:
        import aezoo  # only here: scoring needs neither aezoo nor torch

        try:
            self.detector = aezoo.DriftDetector.load(path, aezoo.load(model) if model else None)
        except aezoo.AezooError as e:  # a damaged file, a model not found: one line, as aezoo's CLI says it
            sys.exit(f"error: {e}")
        fitted_on, calibrated_on = self.detector.to_dict()["weights_sha256"], detector.info["weights_sha256"]
        if fitted_on != calibrated_on:  # the window's codes would be another model's than the scores'
            sys.exit(
                f"error: {path} was fitted on other weights ({fitted_on[:12]}...) than {detector.path.name} was "
                f"calibrated on ({calibrated_on[:12]}...); fit the drift detector on the detector's model"
            )
        if window > self.detector.max_batch:
            sys.exit(f"error: --window {window} is over the drift detector's max_batch ({self.detector.max_batch})")
        self.lock = threading.Lock()  # one test at a time; the others wait for its answer
        self.cached: tuple[int, dict[str, Any]] | None = None

    def test(self, seen: int, images: np.ndarray) -> dict[str, Any]:
        import torch

        with self.lock:
            if self.cached is None or self.cached[0] != seen:
                self.cached = seen, self.detector.test(torch.from_numpy(images)).to_dict()
            return self.cached[1]


class Service(ThreadingHTTPServer):
    """The HTTP server and what its handlers share: the detector, the window, the drift test, the limits."""

    daemon_threads = True  # an idle keep-alive connection does not hold up the shutdown

    def __init__(self, address: tuple[str, int], args: argparse.Namespace) -> None:
        self.detector = Detector(Path(args.detector), args.threads)
        self.window = Window(args.window)
        self.drift = Drift(Path(args.drift), self.detector, args.window, args.model) if args.drift else None
        self.max_batch, self.max_body, self.log = args.max_batch, args.max_body, args.log
        self.started, self.requests, self.images = time.time(), 0, 0
        self.count_lock = threading.Lock()
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client sends many requests on one connection
    disable_nagle_algorithm = True  # headers and body go out in two writes: else each answer waits ~40 ms for an ACK
    timeout = 30  # seconds a connection may sit idle or trickle a request
    server: Service

    def do_GET(self) -> None:
        route = {"/health": self.health, "/drift": self.drift}.get(urlsplit(self.path).path)
        if route is None:
            self.send(HTTPStatus.NOT_FOUND, {"error": f"no GET {self.path}; try GET /health, GET /drift"})
            return
        try:
            answer = route()
        except Exception as e:  # the drift test's (e.g. over the memory budget): the server's doing, not the client's
            self.log_error("GET %s failed: %r", self.path, e)
            self.send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(e).__name__}: {e}"})
            return
        self.send(HTTPStatus.OK, answer)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/score":
            self.send(HTTPStatus.NOT_FOUND, {"error": f"no POST {url.path}; post images to /score"})
            return
        try:
            threshold = _threshold(parse_qs(url.query))
            x = self.read_images()
        except ClientError as e:
            self.send(e.status, {"error": str(e)})
            return
        try:
            out = self.server.detector(x, threshold)
        except Exception as e:  # the runtime's: a bug or a damaged file, not the client's doing
            self.log_error("scoring failed: %r", e)
            self.send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"scoring failed ({type(e).__name__})"})
            return
        self.server.window.add(x, out["is_anomaly"])
        with self.server.count_lock:
            self.server.requests += 1
            self.server.images += len(x)
        used = self.server.detector.threshold if threshold is None else threshold
        self.send(HTTPStatus.OK, {"n": len(x), "threshold": used, **{k: v.tolist() for k, v in out.items()}})

    def read_images(self) -> np.ndarray:
        """The request's body as a float32 batch of the detector's input shape, or a ClientError."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ClientError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length header")
        if int(length) > self.server.max_body:
            self.close_connection = True  # the body is left unread: the connection cannot carry another request
            raise ClientError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body of {int(length)} bytes is over the limit of {self.server.max_body} (--max-body); "
                "send smaller batches",
            )
        body = self.rfile.read(int(length))
        kind = self.headers.get_content_type()
        if kind == "application/json":
            x = _from_json(body)
        elif kind == "application/x-npy":
            x = _from_npy(body)
        else:
            raise ClientError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {kind!r}: send application/json ({{'images': [...]}}) or application/x-npy",
            )
        return self.check(x)

    def check(self, x: np.ndarray) -> np.ndarray:
        want = self.server.detector.input_shape
        if x.ndim != len(want) + 1 or x.shape[1:] != want or len(x) == 0:
            expected = f"(N, {', '.join(map(str, want))})"
            raise ClientError(HTTPStatus.BAD_REQUEST, f"expected images of shape {expected}, got {x.shape}")
        if len(x) > self.server.max_batch:
            raise ClientError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a batch of {len(x)} images is over the limit of {self.server.max_batch} (--max-batch); split it",
            )
        if not np.isfinite(x).all():
            raise ClientError(HTTPStatus.BAD_REQUEST, "the images hold NaN or infinite values")
        return x

    def health(self) -> dict[str, Any]:
        d, s = self.server.detector, self.server
        return {
            "status": "ok",
            "detector": d.path.name,
            "architecture": d.meta.get("architecture"),
            "input_shape": list(d.input_shape),
            "preprocessing": d.meta.get("preprocessing"),
            **{k: d.info.get(k) for k in ("score", "threshold", "threshold_rule", "target_fpr", "weights_sha256")},
            "limits": {"max_batch": s.max_batch, "max_body_bytes": s.max_body, "window": s.window.size},
            "drift": s.drift is not None,
            "requests": s.requests,
            "images": s.images,
            "uptime_s": round(time.time() - s.started, 3),
        }

    def drift(self) -> dict[str, Any]:
        seen, images, flags = self.server.window.snapshot()
        size = self.server.window.size
        report: dict[str, Any] = {
            "window": {"size": size, "n": len(flags), "seen": seen, "flagged": int(flags.sum())},
            "flagged_fraction": float(flags.mean()) if len(flags) else None,
            "target_fpr": self.server.detector.info.get("target_fpr"),
        }
        if self.server.drift is None:
            return {**report, "status": "off", "test": None, "note": "start with --drift DRIFT.json to test codes"}
        if len(flags) < size:
            return {**report, "status": "filling", "test": None}
        return {**report, "status": "tested", "test": self.server.drift.test(seen, images)}

    def send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            super().log_message(format, *args)


def _threshold(query: dict[str, list[str]]) -> float | None:
    if "threshold" not in query:
        return None
    try:
        value = float(query["threshold"][-1])
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ClientError(HTTPStatus.BAD_REQUEST, f"threshold must be a finite number, got {query['threshold'][-1]!r}")
    return value


def _from_json(body: bytes) -> np.ndarray:
    try:
        images = json.loads(body)["images"]
        return np.asarray(images, dtype=np.float32)
    except (ValueError, TypeError, KeyError, RecursionError) as e:  # not JSON, no "images", ragged lists
        raise ClientError(HTTPStatus.BAD_REQUEST, f'send {{"images": nested lists of numbers}} ({e})') from None


def _from_npy(body: bytes) -> np.ndarray:
    """A ``.npy`` body, its header checked against its length before any array is made (no pickle)."""
    f = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        shape, fortran, dtype = read_header[version](f)
    except (ValueError, KeyError, EOFError) as e:
        raise ClientError(HTTPStatus.BAD_REQUEST, f"the body is not a .npy file (numpy.save) ({e!r})") from None
    if dtype.kind != "f":  # raw pixels (uint8) need the model's preprocessing first
        raise ClientError(HTTPStatus.BAD_REQUEST, f"send float model inputs (after the preprocessing), got {dtype}")
    if math.prod(shape) * dtype.itemsize != len(body) - f.tell():
        raise ClientError(HTTPStatus.BAD_REQUEST, f"the .npy header says {shape} {dtype}, the body holds other bytes")
    x = np.frombuffer(body, dtype, offset=f.tell()).reshape(shape, order="F" if fortran else "C")
    return x.astype(np.float32)  # a copy: native byte order, writable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--detector", required=True, help="The exported detector (aezoo export --part detector).")
    parser.add_argument("--drift", default=None, help="A DriftDetector file (aezoo drift --save) to test the window.")
    parser.add_argument("--model", default=None, help="The drift detector's model, if its file names none.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (printed at start).")
    parser.add_argument("--window", type=int, default=200, help="Images in the sliding window of GET /drift.")
    parser.add_argument("--max-batch", type=int, default=256, help="Images per request at most (else 413).")
    parser.add_argument("--max-body", type=int, default=16 * 2**20, help="Request body bytes at most (else 413).")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime's intra-op threads (0: its choice).")
    parser.add_argument("--log", action="store_true", help="Print one line per request to stderr.")
    args = parser.parse_args(argv)
    if args.window < 2:
        parser.error("--window must be at least 2 (a drift test needs two samples)")
    server = Service((args.host, args.port), args)
    host, port = args.host, server.server_port
    for sig in (signal.SIGTERM, signal.SIGINT):  # stop serving from another thread: shutdown() waits for the loop
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"serving {args.detector} on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
