"""Train a tiny linear model on fixed random data; run by test_training.py in subprocesses.

    python tests/_train_script.py OUT [--epochs E] [--batch-size B] [--kill-at EPOCH:STEP] [--resume]
    torchrun --standalone --nproc_per_node 2 tests/_train_script.py OUT ...

Every rank also writes its final weights to OUT/rank{RANK}.safetensors for comparison.
"""

from __future__ import annotations

import argparse
import os
import signal

import torch
from safetensors.torch import save_file

import aezoo
from aezoo.training import TrainConfig, Trainer


def data() -> aezoo.DeviceDataset:
    g = torch.Generator().manual_seed(1234)
    z = torch.randn(192, 2, generator=g)
    x = (z @ torch.randn(2, 64, generator=g)).view(-1, 1, 8, 8) * 0.3
    return aezoo.DeviceDataset(x, name="toy")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--kill-at", default=None, help="EPOCH:STEP (0-based epoch, steps done) to SIGKILL at")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)

    kill = tuple(int(v) for v in args.kill_at.split(":")) if args.kill_at else None

    def killer(event) -> None:
        if kill is not None and event.kind == "step" and (event.epoch, event.step) == kill:
            os.kill(os.getpid(), signal.SIGKILL)

    torch.manual_seed(0)
    model = aezoo.create("linear", input_shape=(1, 8, 8), latent_dim=2)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=3e-2,
        schedule="cosine",
        warmup=0.1,
        grad_clip=5.0,
        checkpoint_every=args.checkpoint_every,
        val_fraction=0.0,
        device="cpu",
    )
    Trainer(model, config, out_dir=args.out, callbacks=[killer], progress=False).fit(data(), resume=args.resume)
    rank = os.environ.get("RANK", "0")
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, os.path.join(args.out, f"rank{rank}.safetensors"))


if __name__ == "__main__":
    main()
