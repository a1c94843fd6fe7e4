"""bf16 autocast on the CPU against float32: training speed and final test MSE, per architecture.

For each architecture: two runs of ``aezoo.train`` from the same seed on the same MNIST subset,
``precision="fp32"`` and ``precision="bf16"`` (CPU autocast: matrix products and convolutions in
bfloat16 where the processor has AVX-512 BF16 / AMX, the rest in float32), then the test MSE of
each model in float32 (``aezoo.evaluate``). Reported: training samples/s (the mean over the
epochs after the first), the ratio bf16/fp32, and both test MSEs. The trainer's ``precision="auto"``
default on the CPU is chosen from this table (BENCHMARKS.md). Run:

    python benchmarks/bf16.py --data-dir DIR --threads 2 --json benchmarks/results/bf16_cpu.json

DIR holds MNIST in torchvision's layout (e.g. ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

import aezoo
from aezoo.data import load_dataset
from aezoo.training import TrainConfig, Trainer
from aezoo.training.outputs import hardware_name

ARCHS = ("linear", "mlp", "stacked", "tied", "deep", "denoising", "sparse", "vae", "aae", "conv")


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f in {"avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2"})


def one(
    arch: str, precision: str, train: aezoo.DeviceDataset, test: aezoo.DeviceDataset, epochs: int
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = aezoo.create(arch)
    cfg = TrainConfig.for_model(model, epochs=epochs, precision=precision, device="cpu", val_fraction=0.0)
    history = Trainer(model, cfg, progress=False).fit(train)
    rates = history.samples_per_s[1:] or history.samples_per_s
    return {
        "samples_per_s": round(statistics.fmean(rates), 1),
        "test_mse": evaluate_mse(model, test),
        "train_loss": history.last("train"),
    }


def evaluate_mse(model: aezoo.Autoencoder, test: aezoo.DeviceDataset) -> float:
    return float(aezoo.evaluate(model, test, progress=False)["mse"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    train = load_dataset("mnist", "train", root=args.data_dir).subset(args.samples)
    test = load_dataset("mnist", "test", root=args.data_dir).subset(args.test_samples)
    rows = []
    for arch in args.archs:
        fp32 = one(arch, "fp32", train, test, args.epochs)
        bf16 = one(arch, "bf16", train, test, args.epochs)
        row = {
            "arch": arch,
            "fp32": fp32,
            "bf16": bf16,
            "speed_ratio": round(bf16["samples_per_s"] / fp32["samples_per_s"], 2),
            "mse_ratio": round(bf16["test_mse"] / fp32["test_mse"], 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {
        "hardware": hardware_name(torch.device("cpu")),
        "cpu_flags": cpu_flags(),
        "threads": args.threads,
        "samples": len(train),
        "test_samples": len(test),
        "epochs": args.epochs,
        "torch": torch.__version__,
        "aezoo": aezoo.__version__,
        "python": platform.python_version(),
        "rows": rows,
    }


def render(res: Mapping[str, Any]) -> str:
    lines = [
        "| arch | fp32 samples/s | bf16 samples/s | bf16 / fp32 | fp32 test MSE | bf16 test MSE | MSE ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['arch']} | {r['fp32']['samples_per_s']:,.0f} | {r['bf16']['samples_per_s']:,.0f} | "
            f"{r['speed_ratio']:.2f} | {r['fp32']['test_mse']:.5f} | {r['bf16']['test_mse']:.5f} | "
            f"{r['mse_ratio']:.3f} |"
        )
    lines.append(
        f"\n{res['hardware']} ({', '.join(res['cpu_flags'])}); {res['samples']} MNIST "
        f"training images × {res['epochs']} epochs, test MSE on {res['test_samples']} test images; "
        f"torch {res['torch']}, aezoo {res['aezoo']}."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--samples", type=int, default=12800)
    ap.add_argument("--test-samples", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--render", default=None)
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
