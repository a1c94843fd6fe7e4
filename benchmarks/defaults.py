"""aezoo's defaults against the seed tutorial recipe, per architecture and epoch budget.

For every architecture and every budget E (default 1, 5 and 20 epochs), on MNIST:

(a) **tutorial**: the recipe the classic tutorials use: the architecture built with its defaults,
    Adam at a constant 1e-3, batch 128, all 60,000 training images reshuffled every epoch, E
    epochs of the model's own training step (its own loss: the VAE's ELBO, the AAE's adversarial
    step, the denoiser's corruption). Its LR is constant, so one run of max(E) epochs gives every
    E: the test MSE is taken after epoch E.
(b) **aezoo**: exactly ``aezoo train ARCH --epochs E --out DIR`` (a fresh process, no other
    training flag: whatever aezoo's defaults are, including the validation hold-out), then the
    saved model is loaded with ``aezoo.load``.

Both are scored the same way: ``aezoo.evaluate`` on the 10,000 test images (``mse``, per pixel,
of the model's reconstruction in eval mode). Same seed for both. Run:

    python benchmarks/defaults.py --data-dir DIR [--archs mlp conv ...] [--epochs 1 5 20] \\
        [--seeds 0 1 2] [--json benchmarks/results/defaults_cpu.json]

``--epochs-for ARCH=1,5`` limits the budgets of one architecture (the expensive ones on a CPU).
With several seeds (``--seeds``) each seed is one tutorial run and one aezoo run per budget, and
the table gives the medians over seeds, their ratio, and in how many seeds aezoo was better.
``--render FILE.json [FILE.json ...]`` prints the Markdown table of earlier runs without training:
the rows of several files are pooled (seeds run in separate processes merge this way; a seed that
an earlier file already gave is skipped), and ``--json OUT`` writes the pool to OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import aezoo
from aezoo.data import load_dataset


def tutorial(arch: str, budgets: list[int], train_x: torch.Tensor, test, seed: int) -> dict[int, dict]:
    """(a) Adam 1e-3, batch 128, constant LR; test MSE after each epoch in ``budgets``."""
    torch.manual_seed(seed)
    model = aezoo.create(arch).train()
    optimizers = model.configure_optimizers(lambda params: torch.optim.Adam(params, lr=1e-3))
    generator = torch.Generator().manual_seed(seed)
    out: dict[int, dict] = {}
    t0 = time.perf_counter()
    for epoch in range(1, max(budgets) + 1):
        model.train()
        for idx in torch.randperm(len(train_x), generator=generator).split(128):
            model.training_step(train_x[idx], optimizers)
        if epoch in budgets:
            metrics = aezoo.evaluate(model, test)
            out[epoch] = {"test_mse": float(metrics["mse"]), "train_s": time.perf_counter() - t0}
            print(f"  tutorial {arch} E={epoch}: test MSE {out[epoch]['test_mse']:.5f}", flush=True)
    return out


def aezoo_default(arch: str, epochs: int, data_dir: Path, test, seed: int, threads: int) -> dict:
    """(b) ``aezoo train ARCH --epochs E`` in a fresh process, then ``aezoo.load`` + ``aezoo.evaluate``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "aezoo", "train", arch, "--epochs", str(epochs), "--out", str(out)]
        cmd += ["--data-dir", str(data_dir), "--device", "cpu", "--seed", str(seed), "--quiet"]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        model = aezoo.load(out)
        training = json.loads((out / "config.json").read_text())["training"]["train_config"]
    metrics = aezoo.evaluate(model, test)
    recipe = {k: training.get(k) for k in ("batch_size", "lr", "schedule", "optimizer", "val_fraction")}
    print(f"  aezoo    {arch} E={epochs}: test MSE {float(metrics['mse']):.5f}  {recipe}", flush=True)
    return {"test_mse": float(metrics["mse"]), "wall_s": wall, "recipe": recipe}


def pool(results: list[dict]) -> list[dict]:
    """The rows of ``results`` with their seeds; an (arch, epochs, seed) that an earlier result gave is skipped."""
    rows, seen = [], set()
    for result in results:
        for row in result["rows"]:
            row = {**row, "seed": row.get("seed", result.get("seed", 0))}  # files before --seeds had one seed
            key = (row["arch"], row["epochs"], row["seed"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def render(results: list[dict]) -> str:
    """The Markdown table of the rows of ``results``, pooled; medians over seeds where there are several."""
    rows = pool(results)
    first = {arch: i for i, arch in reversed(list(enumerate(row["arch"] for row in rows)))}  # first-seen order
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in sorted(rows, key=lambda row: (first[row["arch"]], row["epochs"])):
        groups.setdefault((row["arch"], row["epochs"]), []).append(row)
    seeded = any(len(group) > 1 for group in groups.values())
    head = "| architecture | epochs | tutorial test MSE | aezoo default test MSE | aezoo / tutorial |"
    rule = "|---|---:|---:|---:|---:|"
    if seeded:
        head, rule = head + " aezoo better in |", rule + "---:|"
    lines = [head + " aezoo recipe |", rule + "---|"]
    for (arch, epochs), group in groups.items():
        tut = statistics.median(row["tutorial"]["test_mse"] for row in group)
        ours = statistics.median(row["aezoo"]["test_mse"] for row in group)
        ratio = ours / tut
        r = group[0]["aezoo"]["recipe"]
        recipe = f"batch {r['batch_size']}, {r['optimizer']} {r['lr']:g}, {r['schedule']}"
        mark = "" if ratio <= 1 else " (worse)"
        line = f"| `{arch}` | {epochs} | {tut:.5f} | {ours:.5f} | {ratio:.2f}{mark} |"
        if seeded:
            wins = sum(row["aezoo"]["test_mse"] < row["tutorial"]["test_mse"] for row in group)
            line += f" {wins} of {len(group)} seed{'s' if len(group) > 1 else ''} |"
        lines.append(f"{line} {recipe} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--archs", nargs="+", default=None, help="default: every registered architecture")
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 5, 20])
    p.add_argument("--epochs-for", action="append", default=[], metavar="ARCH=E1,E2", help="budgets of one arch")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one tutorial and one aezoo run per seed")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--render", type=Path, nargs="+", default=None, help="print the table of earlier --json files")
    args = p.parse_args()
    if args.render:
        results = [json.loads(path.read_text()) for path in args.render]
        if args.json:  # the pooled rows as one file, naming where they came from
            pooled = {"sources": [path.name for path in args.render], "rows": pool(results)}
            args.json.write_text(json.dumps(pooled, indent=2) + "\n")
        print(render(results))
        return
    if args.data_dir is None:
        p.error("--data-dir is required unless --render is given")
    torch.set_num_threads(args.threads)
    per_arch = {}
    for item in args.epochs_for:
        name, _, budgets = item.partition("=")
        per_arch[name] = [int(e) for e in budgets.split(",")]

    train_x = load_dataset("mnist", "train", root=args.data_dir).x
    test = load_dataset("mnist", "test", root=args.data_dir)
    result: dict = {
        "hardware": f"{platform.processor() or platform.machine()}, {args.threads} threads, shared machine",
        "versions": {"torch": torch.__version__, "aezoo": aezoo.__version__, "python": platform.python_version()},
        "seeds": args.seeds,
        "rows": [],
    }
    for arch in args.archs or aezoo.list_models():
        budgets = per_arch.get(arch, args.epochs)
        for seed in args.seeds:
            tut = tutorial(arch, budgets, train_x, test, seed)
            for e in budgets:
                ours = aezoo_default(arch, e, args.data_dir, test, seed, args.threads)
                result["rows"].append({"arch": arch, "epochs": e, "seed": seed, "tutorial": tut[e], "aezoo": ours})
                if args.json:  # after every row, so a long run that is stopped keeps what it measured
                    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(render([result]))


if __name__ == "__main__":
    main()
