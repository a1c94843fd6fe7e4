"""Time to a test MSE of 0.0168 (PCA-32's) for the 784-32-784 autoencoder: tutorial recipe vs aezoo.

(a) the plain PyTorch recipe users copy from tutorials: torchvision MNIST with ``ToTensor()``,
    ``DataLoader(batch_size=128, shuffle=True)``, Adam 1e-3, MSE;
(b) aezoo: ``load_dataset`` (one tensor on the device) and the ``Trainer`` with the settings below.

Both train the same architecture (aezoo's ``mlp``: 784-32-784, ReLU code, sigmoid output) from the
same seed. Each clock starts before the dataset is loaded and stops when the test MSE (checked
every ``--check-every`` training samples, the check itself not timed) reaches the target. Run:

    python benchmarks/train_speed.py --data-dir DIR [--device cpu|cuda] [--json out.json]

DIR holds MNIST in torchvision's layout (e.g. a copy of ../shared/data).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

import aezoo
from aezoo.data import load_dataset
from aezoo.training import TrainConfig, Trainer
from aezoo.training.outputs import hardware_name

TARGET = 0.0168  # test MSE per pixel of PCA with 32 components (issue 3)


class Clock:
    """Wall time with pauses, so that the test-MSE checks are not counted."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - t


@torch.no_grad()
def test_mse(model: aezoo.Autoencoder, x_test: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    mse = sum(float(((model(x).reconstruction - x) ** 2).sum()) for x in x_test.split(2000)) / x_test.numel()
    model.train(was_training)
    return mse


def run_tutorial(data_dir: Path, x_test: torch.Tensor, args: argparse.Namespace) -> dict:
    """(a) The tutorial recipe, written the way tutorials write it."""
    import torchvision
    from torchvision import transforms

    torch.manual_seed(args.seed)
    clock = Clock()
    train = torchvision.datasets.MNIST(str(data_dir), train=True, download=True, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True)
    data_s = clock.elapsed()
    model = aezoo.create("mlp").to(args.device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen, next_check, reached, mse = 0, args.check_every, None, float("nan")
    train_clock = Clock()  # the loop with its data loading (the recipe's real cost), checks excluded
    for _epoch in range(args.max_epochs):
        for x, _ in loader:
            x = x.to(args.device)
            loss = nn.functional.mse_loss(model(x).reconstruction, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(x)
            if seen >= next_check:
                next_check += args.check_every
                with clock.pause(), train_clock.pause():
                    mse = test_mse(model, x_test)
                if mse <= TARGET:
                    reached = clock.elapsed()
                    break
        if reached is not None:
            break
    return {
        "recipe": "tutorial: ToTensor + DataLoader(128) + Adam 1e-3",
        "data_s": data_s,
        "samples_per_s": seen / train_clock.elapsed(),
        "samples_to_target": seen if reached else None,
        "time_to_target_s": reached,
        "final_test_mse": mse,
    }


def run_aezoo(data_dir: Path, x_test: torch.Tensor, args: argparse.Namespace) -> dict:
    """(b) aezoo's data module and trainer."""
    torch.manual_seed(args.seed)
    clock = Clock()
    train = load_dataset("mnist", "train", root=data_dir, device=args.device)
    data_s = clock.elapsed()
    model = aezoo.create("mlp")
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        seed=args.seed,
        device=args.device,
        val_fraction=0.0,
        log_every=10**9,
    )
    state = {"seen": 0, "next": args.check_every, "reached": None, "mse": float("nan"), "t_steps": 0.0}
    last = [time.perf_counter()]

    def check(event) -> None:
        if event.kind != "step":
            return
        state["t_steps"] += time.perf_counter() - last[0]
        state["seen"] += args.batch_size
        if state["seen"] >= state["next"]:
            state["next"] += args.check_every
            with clock.pause():
                state["mse"] = test_mse(event.trainer.model, x_test)
            if state["mse"] <= TARGET:
                state["reached"] = clock.elapsed()
                event.trainer.should_stop = True
        last[0] = time.perf_counter()

    Trainer(model, config, callbacks=[check], progress=False).fit(train)
    return {
        "recipe": f"aezoo: device tensor + Trainer(batch {args.batch_size}, Adam {args.lr:g}, {args.schedule} "
        f"over {args.epochs} epochs)",
        "data_s": data_s,
        "samples_per_s": state["seen"] / state["t_steps"],
        "samples_to_target": state["seen"] if state["reached"] else None,
        "time_to_target_s": state["reached"],
        "final_test_mse": state["mse"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=256, help="aezoo's batch size")
    p.add_argument("--lr", type=float, default=5e-3, help="aezoo's peak learning rate")
    p.add_argument("--schedule", default="onecycle", help="aezoo's learning-rate schedule")
    p.add_argument("--epochs", type=int, default=4, help="aezoo's schedule length (it stops at the target)")
    p.add_argument("--check-every", type=int, default=6144, help="training samples between test-MSE checks")
    p.add_argument("--max-epochs", type=int, default=8, help="the tutorial recipe's limit")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    x_test = load_dataset("mnist", "test", root=args.data_dir, device=args.device).x
    load_dataset("mnist", "train", root=args.data_dir)  # build aezoo's cache once, outside the clocks
    runs: dict[str, list[dict]] = {"tutorial": [], "aezoo": []}
    for seed in args.seeds:
        args.seed = seed
        runs["tutorial"].append(run_tutorial(args.data_dir, x_test, args))
        runs["aezoo"].append(run_aezoo(args.data_dir, x_test, args))
    hw = hardware_name(torch.device(args.device))
    print(f"\nhardware: {hw}, {torch.get_num_threads()} threads, torch {torch.__version__}, seeds {args.seeds}")
    print("| recipe | data load (s) | samples/s | samples to MSE 0.0168 | time to MSE 0.0168 (s), median (per seed) |")
    print("|---|---:|---:|---:|---:|")
    summary = {}
    for key, rows in runs.items():
        times = [r["time_to_target_s"] for r in rows]
        done = [t for t in times if t]
        med = statistics.median(done) if len(done) == len(times) else None
        summary[key] = {
            "median_time_s": med,
            "median_samples_per_s": statistics.median(r["samples_per_s"] for r in rows),
        }
        each = ", ".join(f"{t:.2f}" if t else "not reached" for t in times)
        samples = statistics.median(r["samples_to_target"] or 0 for r in rows)
        print(
            f"| {rows[0]['recipe']} | {statistics.median(r['data_s'] for r in rows):.2f} "
            f"| {summary[key]['median_samples_per_s']:,.0f} | {samples:,.0f} "
            f"| {f'{med:.2f}' if med else '-'} ({each}) |"
        )
    base, ours = summary["tutorial"], summary["aezoo"]
    speedup = base["median_time_s"] / ours["median_time_s"] if base["median_time_s"] and ours["median_time_s"] else None
    if speedup:
        print(
            f"\naezoo reaches MSE {TARGET} {speedup:.1f}x sooner (medians); throughput "
            f"{ours['median_samples_per_s'] / base['median_samples_per_s']:.1f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"hardware": hw, "runs": runs, "speedup": speedup}, indent=2))


if __name__ == "__main__":
    main()
