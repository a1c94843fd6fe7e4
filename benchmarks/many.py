"""Models trained per hour: ``aezoo.train_many`` (stacked, and in turn) vs N separate ``aezoo.train`` runs.

For each architecture and N, in one process and on the same data (N seeds of one recipe):

* **sequential** — the baseline a user has today: ``aezoo.train(arch, data, seed=s)`` for s in 0..N-1;
* **in turn** — ``aezoo.train_many(arch, data, seeds=range(N), stack=False)``: one process, one data
  load, the members' own steps in lock-step (the default on the CPU);
* **stacked** — the same with ``stack=True`` where the architecture declares ``capabilities.stack``
  (one vmapped step for all members);
* **stacked, compiled** — with ``compile=True`` too (the stacked loss through ``torch.compile``;
  its compile time is paid once per run and is counted), for the ``--compile-archs``.

The clock covers training only (the data is in memory before it starts; each run trains
``--epochs`` over the first ``--samples`` MNIST training images, no validation split). The
fraction of the matmul peak is the run's FLOPs (``torch.utils.flop_counter`` on one training step,
times the steps) over its wall time, divided by the peak measured in the same run (a 2048² fp32
matmul with the same threads). Run:

    python benchmarks/many.py --data-dir DIR --threads 1 --json benchmarks/results/many_cpu_1t.json
    python benchmarks/many.py --render benchmarks/results/many_cpu_1t.json [more.json]

DIR holds MNIST in torchvision's layout (e.g. ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import aezoo
from aezoo.data import load_dataset
from aezoo.training.outputs import hardware_name

ARCHS = ("mlp", "stacked", "conv", "vae")
MODES = ("sequential", "turns", "stacked", "compiled")


def matmul_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n×n fp32 matmul on this CPU with ``threads`` threads (best of ``repeats``)."""
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def step_flops(arch: str, batch: torch.Tensor) -> int:
    """FLOPs of one training step (loss forward + backward) of a fresh ``arch``."""
    model = aezoo.create(arch)
    model.train()
    with FlopCounterMode(display=False) as counter:
        model.loss(batch)["loss"].backward()
    return int(counter.get_total_flops())


def measure(arch: str, n: int, data: aezoo.DeviceDataset, recipe: Mapping[str, Any], compiled: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"arch": arch, "n": n}
    t = time.perf_counter()
    for seed in range(n):
        aezoo.train(arch, data, seed=seed, progress=False, **recipe)
    row["sequential_s"] = time.perf_counter() - t
    t = time.perf_counter()
    aezoo.train_many(arch, data, seeds=range(n), progress=False, stack=False, **recipe)
    row["turns_s"] = time.perf_counter() - t
    row["stackable"] = aezoo.get_architecture(arch).capabilities.stack
    if row["stackable"]:
        t = time.perf_counter()
        aezoo.train_many(arch, data, seeds=range(n), progress=False, stack=True, **recipe)
        row["stacked_s"] = time.perf_counter() - t
        if compiled:
            t = time.perf_counter()
            aezoo.train_many(arch, data, seeds=range(n), progress=False, stack=True, compile=True, **recipe)
            row["compiled_s"] = time.perf_counter() - t
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    peak = matmul_peak(args.threads)
    train = load_dataset("mnist", "train", root=args.data_dir).subset(args.samples)
    recipe = {"epochs": args.epochs, "val_fraction": 0.0, "device": "cpu"}
    steps = -(-len(train) // 128) * args.epochs  # every architecture here trains with batches of 128
    rows = []
    for arch in args.archs:
        flops = step_flops(arch, train.x[:128]) * steps
        aezoo.train(arch, train.subset(256), epochs=1, progress=False, device="cpu")  # warm the kernels
        for n in args.n:
            if arch in args.small_archs and n > max(args.small_n):
                continue
            row = measure(arch, n, train, recipe, arch in args.compile_archs)
            for mode in MODES:
                if f"{mode}_s" in row:
                    row[f"{mode}_models_per_h"] = round(3600 * n / row[f"{mode}_s"], 1)
                    row[f"{mode}_peak_fraction"] = round(n * flops / row[f"{mode}_s"] / peak, 3)
                    row[f"{mode}_vs_sequential"] = round(row["sequential_s"] / row[f"{mode}_s"], 2)
                    row[f"{mode}_s"] = round(row[f"{mode}_s"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {
        "hardware": hardware_name(torch.device("cpu")),
        "threads": args.threads,
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "samples": len(train),
        "epochs": args.epochs,
        "torch": torch.__version__,
        "aezoo": aezoo.__version__,
        "python": platform.python_version(),
        "rows": rows,
    }


def render(results: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| threads | arch | N | sequential models/h | in turn × | stacked × | stacked + compile × | "
        "% of matmul peak: sequential / in turn / stacked / compiled |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]

    def ratio(r: Mapping[str, Any], mode: str) -> str:
        return f"{r[f'{mode}_vs_sequential']:.2f}" if f"{mode}_vs_sequential" in r else "—"

    for res in results:
        for r in res["rows"]:
            peaks = " / ".join(
                f"{100 * r[f'{m}_peak_fraction']:.0f}" if f"{m}_peak_fraction" in r else "—" for m in MODES
            )
            lines.append(
                f"| {res['threads']} | {r['arch']} | {r['n']} | {r['sequential_models_per_h']:,.0f} | "
                f"{ratio(r, 'turns')} | {ratio(r, 'stacked')} | {ratio(r, 'compiled')} | {peaks} |"
            )
    first = results[0]
    lines.append(
        f"\n{first['hardware']}; matmul peak {', '.join(str(r['matmul_peak_gflops']) for r in results)} GFLOP/s "
        f"({', '.join(str(r['threads']) for r in results)} threads); {first['samples']} MNIST images × "
        f"{first['epochs']} epochs per model; torch {first['torch']}, aezoo {first['aezoo']}."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--n", nargs="+", type=int, default=[1, 5, 10, 50])
    ap.add_argument("--samples", type=int, default=6400)
    ap.add_argument("--compile-archs", nargs="*", default=["mlp"], help="Also measure compile=True for these.")
    ap.add_argument("--small-archs", nargs="*", default=["conv"], help="Architectures measured at --small-n only.")
    ap.add_argument("--small-n", nargs="+", type=int, default=[1, 5, 10])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--render", nargs="+", default=None)
    args = ap.parse_args()
    if args.render:
        print(render([json.loads(Path(p).read_text()) for p in args.render]))
        return
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(render([results]))


if __name__ == "__main__":
    main()
