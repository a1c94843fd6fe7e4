"""Train on a streamed .npy file; run by test_streaming.py in subprocesses.

    python tests/_stream_script.py DATA OUT [--epochs E] [--kill-at EPOCH:STEP] [--resume]
    python tests/_stream_script.py DATA OUT --headroom-mb M

The first form trains a linear model on DATA streamed in small buffers (several per epoch) and
writes OUT/final.safetensors. The second caps the process's data segment at what it uses after a
warm-up run plus M MiB, then trains on DATA with aezoo's automatic choice (which must be to
stream), then tries to load DATA whole (which must fail), and prints one JSON line of what happened.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
from pathlib import Path

import torch
from safetensors.torch import save_file

import aezoo
from aezoo.data.streaming import StreamedDataset
from aezoo.training import TrainConfig, Trainer


def vm_data() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmData in /proc/self/status")


def config(epochs: int, checkpoint_every: int = 0) -> TrainConfig:
    return TrainConfig(
        epochs=epochs,
        batch_size=32,
        lr=1e-2,
        schedule="cosine",
        checkpoint_every=checkpoint_every,
        val_fraction=0.1,
        device="cpu",
    )


def resumable_run(args: argparse.Namespace) -> None:
    kill = tuple(int(v) for v in args.kill_at.split(":")) if args.kill_at else None

    def killer(event) -> None:
        if kill is not None and event.kind == "step" and (event.epoch, event.step) == kill:
            os.kill(os.getpid(), signal.SIGKILL)

    whole = aezoo.load_user_data(args.data, stream=True)
    assert isinstance(whole, StreamedDataset)
    # Small chunks and buffers: an epoch spans several buffers, and the kill lands inside one.
    data = StreamedDataset(
        whole.source, preprocessing=whole.preprocessing, name="toy", buffer_bytes=8192, chunk_bytes=512
    )
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=data.shape, latent_dim=2)
    Trainer(model, config(args.epochs, 7), out_dir=args.out, callbacks=[killer], progress=False).fit(
        data, resume=args.resume
    )
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(args.out, "final.safetensors"))


def capped_run(args: argparse.Namespace) -> None:
    shape = tuple(int(s) for s in json.loads(args.shape))
    # Warm up with the same model and loop on a few samples, so that every allocation the library
    # makes once (thread pools, kernels, allocator arenas) already counts in the baseline.
    torch.manual_seed(0)
    warm = aezoo.DeviceDataset(torch.zeros(256, *shape, dtype=torch.uint8))
    Trainer(aezoo.create("linear", input_shape=shape), config(1), progress=False).fit(warm)
    baseline = vm_data()
    limit = baseline + args.headroom_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))

    data = aezoo.load_user_data(args.data)  # the automatic choice, under the cap
    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=shape)
    history = Trainer(model, config(1), progress=False).fit(data)
    report = {
        "baseline": baseline,
        "limit": limit,
        "file_bytes": os.path.getsize(args.data),
        "streamed": isinstance(data, StreamedDataset),
        "train_loss": history.train["loss"],
        "val_loss": history.val["loss"],
        "data_after": vm_data(),
    }
    try:
        aezoo.load_user_data(args.data, stream=False)
        report["whole"] = "loaded"
    except (aezoo.DataError, MemoryError, RuntimeError) as e:
        report["whole"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--kill-at", default=None, help="EPOCH:STEP (0-based epoch, steps done) to SIGKILL at")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--headroom-mb", type=int, default=0, help="cap the data segment at baseline + this")
    p.add_argument("--shape", default="[1, 28, 28]", help="sample shape of DATA, as JSON")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.headroom_mb:
        capped_run(args)
    else:
        resumable_run(args)


if __name__ == "__main__":
    main()
