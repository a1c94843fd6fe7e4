"""Streamed vs in-memory MNIST: data throughput and training throughput, side by side.

Three ways to hold the MNIST training split (60,000 images), all from aezoo's uint8 cache file:

* ``float32`` — the whole split as float32 on the device (what aezoo did before: 188 MB);
* ``bytes``   — the whole split as uint8, scaled batch by batch (``load_dataset(stream=False)``: 47 MB);
* ``streamed`` — read from the cache file in shuffled chunks (``load_dataset(stream=True)``) with
  the default 16 MiB buffer: 3 buffers of 1 MiB chunks per epoch;
* ``streamed-64M`` — the same with a 64 MiB buffer, which holds all of MNIST: one read and one
  shuffle per epoch (the best shuffle; for comparison).

For each, in interleaved rounds: (1) one shuffled epoch of batches, nothing else (samples/s of the
data path alone); (2) one epoch of ``aezoo.Trainer`` on the ``mlp`` (784-32-784; ``--archs mlp,conv`` adds the conv
model) (samples/s as the Trainer reports it). Medians over the rounds; ratios to ``bytes`` from the same
run. The cache file sits in the page cache (it is read once before timing), so the streamed path
measures aezoo's reads and shuffling, not the disk.

    python benchmarks/streaming.py --data-dir DIR [--device cpu|cuda] [--rounds 3] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import aezoo
from aezoo.data import DeviceDataset, load_dataset
from aezoo.data.streaming import StreamedDataset
from aezoo.training import TrainConfig, Trainer
from aezoo.training.outputs import hardware_name


def datasets(data_dir: str | None, device: str) -> dict[str, Any]:
    held = load_dataset("mnist", "train", root=data_dir, device=device, stream=False)
    streamed = load_dataset("mnist", "train", root=data_dir, device=device, stream=True)
    assert isinstance(held, DeviceDataset) and isinstance(streamed, StreamedDataset)
    as_float = DeviceDataset(held.x, held.y, preprocessing=held.preprocessing, name=held.name)
    whole = StreamedDataset(
        streamed.source, y=streamed.y, preprocessing=streamed.preprocessing, name=streamed.name, buffer_bytes=64 << 20
    )
    return {"float32": as_float, "bytes": held, "streamed": streamed, "streamed-64M": whole}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def data_epoch(ds: Any, batch_size: int, seed: int, device: str) -> float:
    """Samples/s of one shuffled epoch of batches, each touched on the device (a sum)."""
    g = torch.Generator().manual_seed(seed)
    sync(device)
    t0 = time.perf_counter()
    total = torch.zeros((), device=device)
    for x in ds.batches(batch_size, generator=g):
        total += x[:, 0, 0, 0].sum()
    sync(device)
    return len(ds) / (time.perf_counter() - t0)


def train_epoch(ds: Any, arch: str, batch_size: int, seed: int, device: str) -> float:
    torch.manual_seed(seed)
    model = aezoo.create(arch)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, seed=seed, device=device, val_fraction=0.0)
    history = Trainer(model, cfg, progress=False).fit(ds)
    return history.samples_per_s[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--archs", default="mlp", help="comma-separated architectures to train (e.g. mlp,conv)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads [default: torch's]")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    sets = datasets(args.data_dir, args.device)
    streamed = sets["streamed"]
    print(f"streamed from {streamed.source.path} ({streamed.nbytes / 1e6:.1f} MB)")
    data_epoch(streamed, args.batch_size, 0, args.device)  # warm the page cache
    results: dict[str, dict[str, list[float]]] = {name: {} for name in sets}
    for r in range(args.rounds):
        for name, ds in sets.items():
            row = results[name]
            row.setdefault("data", []).append(data_epoch(ds, args.batch_size, r, args.device))
            for arch in args.archs.split(","):
                row.setdefault(arch, []).append(train_epoch(ds, arch, args.batch_size, r, args.device))
            print(f"round {r + 1}: {name:<11} " + "  ".join(f"{k} {v[-1]:,.0f}/s" for k, v in row.items()), flush=True)

    medians = {name: {k: statistics.median(v) for k, v in row.items()} for name, row in results.items()}
    held_bytes = {name: ds.nbytes for name, ds in sets.items() if isinstance(ds, DeviceDataset)}
    print(f"\nmedians over {args.rounds} rounds, samples/s (in parentheses: ratio to bytes in memory)\n")
    keys = list(medians["bytes"])
    print("| held as | memory held | " + " | ".join(f"{k} samples/s" for k in keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for name, row in medians.items():
        ds = sets[name]
        held = ds.nbytes if isinstance(ds, DeviceDataset) else ds.buffer_bytes
        label = f"{held / 1e6:.0f} MB" if isinstance(ds, DeviceDataset) else f"buffer ≤ {held >> 20} MiB"
        cells = " | ".join(f"{row[k]:,.0f} ({row[k] / medians['bytes'][k]:.2f}×)" for k in keys)
        print(f"| {name} | {label} | {cells} |")
    if args.json:
        record = {
            "benchmark": "streaming",
            "device": args.device,
            "hardware": hardware_name(torch.device(args.device)),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "aezoo": aezoo.__version__,
            "batch_size": args.batch_size,
            "threads": torch.get_num_threads(),
            "rounds": args.rounds,
            "stream_buffer_bytes": {k: v.buffer_bytes for k, v in sets.items() if isinstance(v, StreamedDataset)},
            "held_bytes": held_bytes,
            "samples_per_s": results,
            "median_samples_per_s": medians,
            "ratio_to_bytes": {n: {k: v / medians["bytes"][k] for k, v in row.items()} for n, row in medians.items()},
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
