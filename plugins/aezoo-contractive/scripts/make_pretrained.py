"""Train the ``contractive-mnist`` weights and print the numbers for its Pretrained entry.

    python scripts/make_pretrained.py --data-dir DIR --out runs/contractive-mnist [--publish]

Trains ContractiveAE with the entry's config on MNIST with aezoo's trainer (seed 0, CPU, fp32),
evaluates it on the test split, and prints sha256 and metrics. With ``--publish`` it also
publishes the run to aezoo-contrib/contractive-mnist and prints the commit hash to pin as
``revision`` (needs a token with write access to that organisation).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from aezoo_contractive.model import CONTRACTIVE_MNIST

import aezoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with torchvision's MNIST layout")
    parser.add_argument("--out", default="runs/contractive-mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--publish", action="store_true")
    args = parser.parse_args()

    train = aezoo.load_dataset("mnist", "train", root=args.data_dir, download=False)
    test = aezoo.load_dataset("mnist", "test", root=args.data_dir, download=False)
    model = aezoo.create("contractive", **dict(CONTRACTIVE_MNIST.config))
    config = aezoo.TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, seed=0, device="cpu", precision="fp32")
    aezoo.Trainer(model, config, out_dir=args.out).fit(train)
    metrics = aezoo.evaluate(model, test)
    sha256 = hashlib.sha256((Path(args.out) / "model.safetensors").read_bytes()).hexdigest()
    print(f"sha256={sha256!r}")
    print(
        "metrics="
        + repr({k: round(float(v), 5) for k, v in metrics.items() if isinstance(v, float) and k != "throughput"})
    )
    if args.publish:
        print(f"revision={aezoo.publish(args.out, CONTRACTIVE_MNIST.repo_id)!r}")


if __name__ == "__main__":
    main()
