"""Reproduce Hinton & Salakhutdinov (2006) on MNIST with layer-wise pretraining, and its ablation.

G. E. Hinton and R. R. Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks",
Science 313 (2006): a 784-1000-500-250-30 autoencoder (logistic units, linear code) reaches an
average squared error per test image of 3.00 (sum over 784 pixels in [0, 1], mean over the 10k
test images), against 13.87 for PCA with 30 components. They pretrained with RBMs and fine-tuned
with conjugate gradients on cross-entropy; here the stages are autoencoders trained with Adam,
and fine-tuning is the Trainer's (Adam on the deep model's MSE).

Runs, all on the same budget:

* ``plain``     plain stage autoencoders, then fine-tuning;
* ``denoising`` denoising stages (masking noise), then fine-tuning;
* ``none``      no pretraining: the deep model from its Glorot init, trained for
  ``layer_epochs + finetune_epochs`` epochs. One epoch of every stage together costs exactly one
  epoch of the deep model (each weight matrix appears once as a stage encoder and once as a stage
  decoder, as in the unrolled model), so this is the same FLOP budget;
* ``pca``       PCA-30 fitted on the same training images (the paper's reference).

Each run is timed (wall time, samples/s, achieved FLOP/s; on CUDA also the fraction of a
measured bf16 and fp32 matmul rate). A markdown table goes to stdout, everything to ``--json``.

    python benchmarks/layerwise.py --layer-epochs 20 --finetune-epochs 100            # the experiment (GPU)
    python benchmarks/layerwise.py --device cpu --limit 5000 --layer-epochs 1 --finetune-epochs 1   # smoke run
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

import aezoo
from aezoo.data import DeviceDataset, load_dataset
from aezoo.evaluation.metrics import evaluate
from aezoo.training import TrainConfig, Trainer
from aezoo.training.layerwise import LayerwiseConfig, LayerwisePretrainer

DIMS = (784, 1000, 500, 250, 30)
PAPER = {"deep autoencoder (RBM pretraining)": 3.00, "PCA-30": 13.87}


def main() -> None:
    args = _parse()
    device = _device(args.device)
    torch.manual_seed(args.seed)
    train = load_dataset("mnist", "train", root=args.data_dir, device=device)
    test = load_dataset("mnist", "test", root=args.data_dir, device=device)
    if args.limit:
        train = train.subset(args.limit)
    if args.test_limit:
        test = test.subset(args.test_limit)
    peak = _matmul_rates(device)
    runs: dict[str, Any] = {}
    for name in args.runs.split(","):
        print(f"== {name}", flush=True)
        if name == "pca":
            runs[name] = _pca(train, test, DIMS[-1], device)
        elif name == "none":
            runs[name] = _no_pretraining(args, train, test, device, peak)
        else:
            runs[name] = _layerwise(args, name, train, test, device, peak)
    result = {
        "experiment": "Hinton & Salakhutdinov (2006), MNIST 784-1000-500-250-30",
        "paper_test_sse_per_image": PAPER,
        "args": vars(args),
        "device": str(device),
        "hardware": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "aezoo": aezoo.__version__,
        "num_train": len(train),
        "num_test": len(test),
        "matmul_flops_per_s": peak,
        "runs": runs,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(_markdown(result))
    print(f"\nwritten to {args.json}")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--layer-epochs", type=int, default=20, help="epochs per pretraining stage")
    p.add_argument("--finetune-epochs", type=int, default=100, help="epochs of end-to-end fine-tuning")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of the stages")
    p.add_argument("--finetune-lr", type=float, default=1e-3)
    p.add_argument("--finetune-schedule", default="cosine", help="learning-rate schedule of fine-tuning")
    p.add_argument("--noise", type=float, default=0.2, help="masked fraction for the denoising stages")
    p.add_argument("--runs", default="pca,plain,denoising,none", help="comma-separated: pca, plain, denoising, none")
    p.add_argument("--device", default="auto", help="cuda, cpu, mps or auto")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--compile", action="store_true", help="torch.compile the stages and the deep model")
    p.add_argument("--data-dir", default=None, help="where MNIST lives (default: $AEZOO_DATA or the aezoo cache)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-dir", default=None, help="also save each trained model under this folder")
    p.add_argument("--json", default="layerwise-benchmark.json", help="where to write the results")
    p.add_argument("--progress", action="store_true", help="progress bars")
    return p.parse_args()


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _matmul_rates(device: torch.device) -> dict[str, float]:
    """Measured dense matmul FLOP/s on this device (bf16 and fp32; fp32 uses TF32 on CUDA as the Trainer does)."""
    n = 8192 if device.type == "cuda" else 1024
    rates = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # what set_float32_matmul_precision("high") selects
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(3):
            a @ b
        _sync(device)
        reps, best = (20 if device.type == "cuda" else 3), 0.0
        for _ in range(5):  # the best of five: the rate the hardware reaches, not a noisy neighbour's share
            t0 = time.perf_counter()
            for _ in range(reps):
                a @ b
            _sync(device)
            best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0))
        rates[name] = best
    return rates


def _efficiency(flops: float, seconds: float, precision: str, peak: dict[str, float]) -> dict[str, float | None]:
    rate = flops / seconds if seconds > 0 else None
    ref = peak.get("bf16" if precision == "bf16" else "fp32")
    return {"flops": flops, "flops_per_s": rate, "fraction_of_matmul_peak": rate / ref if rate and ref else None}


def _test_metrics(model: aezoo.Autoencoder, test: DeviceDataset) -> dict[str, float]:
    m = evaluate(model, test, batch_size=10000)
    return {"test_sse_per_image": float(m["sse_per_image"]), "test_mse": float(m["mse"])}


def _layerwise(
    args: argparse.Namespace,
    kind: str,
    train: DeviceDataset,
    test: DeviceDataset,
    device: torch.device,
    peak: dict[str, float],
) -> dict[str, Any]:
    cfg = LayerwiseConfig(
        dims=DIMS,
        kind=kind,
        noise=args.noise,
        layer_epochs=args.layer_epochs,
        layer_lr=args.lr,
        batch_size=args.batch_size,
        finetune_epochs=args.finetune_epochs,
        finetune_lr=args.finetune_lr,
        finetune={"val_fraction": 0.0, "schedule": args.finetune_schedule},
        seed=args.seed,
        device=str(device),
        precision=args.precision,
        compile=args.compile,
    )
    engine = LayerwisePretrainer(cfg, progress=args.progress)
    out = Path(args.save_dir) / kind if args.save_dir else None
    _sync(device)
    t0 = time.perf_counter()
    model, report = engine.fit(train, out_dir=out)
    _sync(device)
    wall = time.perf_counter() - t0
    stages = [
        {
            k: s[k]
            for k in (
                "stage",
                "dims",
                "kind",
                "loss",
                "epochs",
                "final_loss",
                "train_s",
                "encode_s",
                "wall_s",
                "samples_per_s",
            )
        }
        | {"train_recon_mse": s["train_error"]["mse"]}
        | _efficiency(s["flops"], s["train_s"], engine.precision, peak)
        for s in report.stages
    ]
    flops = sum(s["flops"] for s in report.stages) + report.finetune.get("flops", 0)
    pretrain_s = sum(s["wall_s"] for s in report.stages)
    unrolled = engine.unroll(train.shape)  # rebuilt from the stages: the test error before fine-tuning
    unrolled.preprocessing = train.preprocessing
    return {
        "pretraining": kind,
        "precision": engine.precision,
        "stages": stages,
        "unrolled": _test_metrics(unrolled, test),
        **_test_metrics(model, test),
        "pretrain_s": pretrain_s,
        "finetune_s": report.finetune.get("wall_s", 0.0),
        "finetune_samples_per_s": report.finetune.get("samples_per_s"),
        "wall_s": wall,
        "budget_epochs": args.layer_epochs + args.finetune_epochs,  # in epochs of the deep model (docstring)
        **_efficiency(flops, wall, engine.precision, peak),
    }


def _no_pretraining(
    args: argparse.Namespace, train: DeviceDataset, test: DeviceDataset, device: torch.device, peak: dict[str, float]
) -> dict[str, Any]:
    epochs = args.layer_epochs + args.finetune_epochs  # same FLOPs as the pretrained runs (module docstring)
    torch.manual_seed(args.seed)
    model = aezoo.create("deep", dims=DIMS)
    model.preprocessing = train.preprocessing
    tc = TrainConfig(
        epochs=epochs,
        lr=args.finetune_lr,
        batch_size=args.batch_size,
        seed=args.seed,
        schedule=args.finetune_schedule,
        device=str(device),
        precision=args.precision,
        compile=args.compile,
        val_fraction=0.0,
    )
    out = Path(args.save_dir) / "none" if args.save_dir else None
    _sync(device)
    t0 = time.perf_counter()
    history = Trainer(model, tc, out_dir=out, progress=args.progress).fit(train)
    _sync(device)
    wall = time.perf_counter() - t0
    precision = "bf16" if args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda") else "fp32"
    flops = 12 * sum(a * b for a, b in itertools.pairwise(DIMS)) * len(train) * len(history.epoch)
    return {
        "pretraining": "none",
        "precision": precision,
        **_test_metrics(model, test),
        "pretrain_s": 0.0,
        "finetune_s": wall,
        "finetune_samples_per_s": len(train) * len(history.epoch) / wall,
        "wall_s": wall,
        "budget_epochs": epochs,
        **_efficiency(flops, wall, precision, peak),
    }


def _pca(train: DeviceDataset, test: DeviceDataset, k: int, device: torch.device) -> dict[str, Any]:
    """PCA with ``k`` components fitted on the training images (float64), test SSE per image."""
    _sync(device)
    t0 = time.perf_counter()
    x = train.x.flatten(1).double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    _, vecs = torch.linalg.eigh(cov)
    basis = vecs[:, -k:]
    t = test.x.flatten(1).double() - mean
    rec = t @ basis @ basis.T
    sse = (rec - t).pow(2).sum(1)
    _sync(device)
    return {
        "pretraining": f"PCA-{k}",
        "test_sse_per_image": float(sse.mean()),
        "test_mse": float(sse.mean() / x.shape[1]),
        "wall_s": time.perf_counter() - t0,
    }


def _fmt(v: Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _markdown(result: dict[str, Any]) -> str:
    peak = result["matmul_flops_per_s"]
    lines = [
        f"MNIST {result['num_train']} train / {result['num_test']} test images, "
        f"{result['hardware']} ({result['device']}); "
        f"measured matmul: bf16 {peak['bf16'] / 1e9:,.0f} GFLOP/s, fp32 {peak['fp32'] / 1e9:,.0f} GFLOP/s",
        "",
        "| run | budget (deep epochs) | test SSE/image | unrolled SSE/image | pretrain s | fine-tune s | total s "
        "| fine-tune samples/s | GFLOP/s | of matmul peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["runs"].items():
        lines.append(
            f"| {name} | {r.get('budget_epochs', '–')} | {r['test_sse_per_image']:.2f} | "
            f"{_fmt(r.get('unrolled', {}).get('test_sse_per_image'), '.2f')} | {_fmt(r.get('pretrain_s'), '.1f')} | "
            f"{_fmt(r.get('finetune_s'), '.1f')} | {r['wall_s']:.1f} | "
            f"{_fmt(r.get('finetune_samples_per_s'), ',.0f')} | "
            f"{_fmt(r['flops_per_s'] / 1e9 if r.get('flops_per_s') else None, ',.1f')} | "
            f"{_fmt(r.get('fraction_of_matmul_peak'), '.1%')} |"
        )
    for name, v in result["paper_test_sse_per_image"].items():
        lines.append(f"| paper: {name} | | {v:.2f} | | | | | | | |")
    lines += [
        "",
        "| run | stage | dims | loss | epochs | final loss | recon MSE | s | samples/s | GFLOP/s | of peak |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["runs"].items():
        for s in r.get("stages", []):
            lines.append(
                f"| {name} | {s['stage']} | {s['dims'][0]}→{s['dims'][1]} | {s['loss']} | {s['epochs']} | "
                f"{_fmt(s['final_loss'], '.4f')} | {s['train_recon_mse']:.4f} | {s['wall_s']:.2f} | "
                f"{_fmt(s['samples_per_s'], ',.0f')} | "
                f"{_fmt(s['flops_per_s'] / 1e9 if s['flops_per_s'] else None, ',.1f')} | "
                f"{_fmt(s['fraction_of_matmul_peak'], '.1%')} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
