"""Load test of examples/serve/server.py: requests and images per second, latency, and the HTTP overhead.

The bundled ``conv-mnist``, calibrated on 2000 MNIST test images at a 1 % false-positive rate, is
exported whole to ONNX (``export_detector``) and served by ``examples/serve/server.py`` in a
subprocess on 127.0.0.1 (scoring only, no ``--drift``). For each batch size and number of
concurrent clients, a bounded number of ``POST /score`` requests is sent: each client is a thread
with one keep-alive connection, posting bodies encoded before the clock starts (``.npy`` by
default, JSON where the row says so) and decoding the JSON answer. Reported: requests/s,
images/s, and the p50 / p95 latency of one request as the client sees it.

The same batches are then run in this process straight through an onnxruntime session of the
same file with the same thread setting (one caller, or as many threads as clients): the ratio of
the two is what HTTP, JSON and the server's checks cost. ``run_exported_detector`` is timed too:
it opens the file (a new session) on every call, which is why a service keeps one session.

Run (about a minute; BENCHMARKS.md has the command of its table):

    python benchmarks/serve.py --data-dir ../shared/data --out benchmarks/results/serve.json
    python benchmarks/serve.py --render benchmarks/results/serve.json   # the Markdown table
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch

import aezoo
from aezoo.applications.anomaly import AnomalyDetector
from aezoo.applications.detector_export import export_detector, run_exported_detector
from aezoo.data import load_dataset
from aezoo.io.serialization import atomic_write
from aezoo.training.outputs import hardware_name

SERVER = Path(__file__).resolve().parents[1] / "examples" / "serve" / "server.py"
#: (images per request, concurrent clients, body format) of each row
GRID = [(1, 1, "npy"), (1, 4, "npy"), (64, 1, "npy"), (64, 4, "npy"), (1, 1, "json"), (64, 1, "json")]


def _body(x: np.ndarray, fmt: str) -> tuple[bytes, str]:
    if fmt == "json":
        return json.dumps({"images": x.tolist()}).encode(), "application/json"
    buffer = io.BytesIO()
    np.save(buffer, x)
    return buffer.getvalue(), "application/x-npy"


def _client(port: int, bodies: list[tuple[bytes, str]], n: int, latencies: list[float]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(n):
        body, kind = bodies[i % len(bodies)]
        t0 = time.perf_counter()
        connection.request("POST", "/score", body, {"Content-Type": kind})
        response = connection.getresponse()
        answer = json.loads(response.read())
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            raise RuntimeError(f"the server answered {response.status}: {answer}")
    connection.close()


def _timed(workers: int, work: Any, n: int) -> tuple[float, list[float]]:
    """``work(count, latencies)`` in ``workers`` threads sharing ``n`` calls; wall seconds and every latency."""
    shares = [n // workers + (i < n % workers) for i in range(workers)]
    latencies: list[list[float]] = [[] for _ in range(workers)]
    threads = [threading.Thread(target=work, args=(k, lat)) for k, lat in zip(shares, latencies, strict=True)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, [s for lat in latencies for s in lat]


def _row(kind: str, batch: int, clients: int, fmt: str, seconds: float, latencies: list[float]) -> dict[str, Any]:
    n = len(latencies)
    q = statistics.quantiles(latencies, n=20, method="inclusive")  # q[9]: the median, q[18]: the 95th percentile
    return {
        "kind": kind,
        "batch": batch,
        "clients": clients,
        "format": fmt,
        "requests": n,
        "requests_per_s": n / seconds,
        "images_per_s": n * batch / seconds,
        "p50_ms": 1000 * q[9],
        "p95_ms": 1000 * q[18],
    }


def _start(path: Path, threads: int) -> tuple[subprocess.Popen[str], int]:
    command = [sys.executable, str(SERVER), "--detector", str(path), "--port", "0", "--threads", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "http://" not in line:
        process.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return process, int(line.rsplit(":", 1)[1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    test = load_dataset("mnist", "test", root=args.data_dir).x
    model = aezoo.load("conv-mnist")
    detector = AnomalyDetector.fit(model, test[:2000], target_fpr=0.01, model_ref="conv-mnist")
    images = test[2000:].numpy()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = export_detector(detector, Path(folder) / "detector.onnx").path
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = args.threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        process, port = _start(path, args.threads)
        try:
            for batch, clients, fmt in GRID:
                batches = [images[i * batch : (i + 1) * batch] for i in range(8)]
                bodies = [_body(x, fmt) for x in batches]
                _client(port, bodies, 10, [])  # warm-up
                seconds, lat = _timed(clients, lambda k, lat, b=bodies: _client(port, b, k, lat), args.requests)
                rows.append(_row("http", batch, clients, fmt, seconds, lat))
                print(json.dumps(rows[-1]), flush=True)
                if fmt != "npy":
                    continue

                def direct(k: int, lat: list[float], b: list[np.ndarray] = batches) -> None:
                    for i in range(k):
                        t0 = time.perf_counter()
                        session.run(["score", "normalized_score", "p_value", "is_anomaly"], {"input": b[i % len(b)]})
                        lat.append(time.perf_counter() - t0)

                seconds, lat = _timed(clients, direct, args.requests)
                rows.append(_row("onnxruntime in-process", batch, clients, "-", seconds, lat))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
        calls = 20
        one = torch.from_numpy(images[:1])

        def reopened(k: int, lat: list[float]) -> None:
            for _ in range(k):
                t0 = time.perf_counter()
                run_exported_detector(path, one)
                lat.append(time.perf_counter() - t0)

        seconds, lat = _timed(1, reopened, calls)
        rows.append(_row("run_exported_detector (opens the file each call)", 1, 1, "-", seconds, lat))
        print(json.dumps(rows[-1]), flush=True)
    return {
        "setup": {
            "model": "conv-mnist",
            "detector": "mse, target_fpr 0.01, 2000 MNIST test images",
            "requests_per_row": args.requests,
            "onnxruntime_threads": args.threads,
            "hardware": hardware_name(torch.device("cpu")),
            "onnxruntime": onnxruntime.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "aezoo": aezoo.__version__,
        },
        "rows": rows,
    }


def render(paths: Sequence[str]) -> str:
    """The Markdown table of result files written by :func:`run`, each HTTP row beside its in-process one."""
    lines = []
    for path in paths:
        result = json.loads(Path(path).read_text())
        s = result["setup"]
        lines += [
            f"{s['model']} detector ({s['detector']}); {s['requests_per_row']} requests per row; "
            f"onnxruntime {s['onnxruntime']}, {s['onnxruntime_threads']} intra-op thread(s); {s['hardware']}.",
            "",
            "| path | batch | clients | body | requests/s | images/s | p50 ms | p95 ms | HTTP / in-process |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        direct = {(r["batch"], r["clients"]): r for r in result["rows"] if r["kind"] == "onnxruntime in-process"}
        for r in result["rows"]:
            base = direct.get((r["batch"], r["clients"]))
            ratio = f"{r['requests_per_s'] / base['requests_per_s']:.2f}" if r["kind"] == "http" and base else "–"
            lines.append(
                f"| {r['kind']} | {r['batch']} | {r['clients']} | {r['format']} | {r['requests_per_s']:,.0f} | "
                f"{r['images_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {ratio} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", default=None, help="Folder with MNIST/ (torchvision layout).")
    parser.add_argument("--requests", type=int, default=500, help="Requests per row (bounded load).")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads, server and in-process.")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    parser.add_argument("--render", nargs="+", default=None, metavar="RESULTS", help="Print the Markdown table.")
    args = parser.parse_args(argv)
    if args.render:
        print(render(args.render))
        return
    result = run(args)
    if args.out:
        with atomic_write(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
