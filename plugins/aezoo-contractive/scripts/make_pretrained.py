"""Train the ``contractive-mnist`` bundle: the files ``aezoo release`` publishes for its entry.

    python scripts/make_pretrained.py --data-dir DIR            # writes weights/contractive-mnist/
    aezoo release --weights weights --manifest aezoo_contractive/pretrained.json \\
        --org aezoo-contrib --package aezoo-contractive          # publishes it and pins the entry

Trains ContractiveAE with the entry's config on MNIST with aezoo's trainer (seed 0, CPU, fp32),
evaluates it on the test split and writes ``metrics.json`` (its numbers go into the manifest, the
card's model-index and the repo's metrics.json). Run from the plugin's folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aezoo_contractive.model import ContractiveAE, ContractiveConfig

import aezoo

CONFIG = {
    "input_shape": [1, 28, 28],
    "latent_dim": 64,
    "contraction": 0.01,
    "tied": False,
    "output_activation": "sigmoid",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with torchvision's MNIST layout")
    parser.add_argument("--out", default="weights/contractive-mnist")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    train = aezoo.load_dataset("mnist", "train", root=args.data_dir, download=True)
    test = aezoo.load_dataset("mnist", "test", root=args.data_dir, download=True)
    model = ContractiveAE(ContractiveConfig(**{**CONFIG, "input_shape": tuple(CONFIG["input_shape"])}))
    config = aezoo.TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, seed=0, device="cpu", precision="fp32")
    aezoo.Trainer(model, config, out_dir=args.out, progress=False).fit(train)
    metrics = aezoo.evaluate(model, test)
    out = Path(args.out)
    for p in out.iterdir():  # checkpoints are for resuming, not for publishing
        if p.name not in ("model.safetensors", "config.json", "history.json"):
            p.unlink() if p.is_file() else None
    kept = {k: round(float(v), 5) for k, v in metrics.items() if isinstance(v, float) and k != "throughput"}
    (out / "metrics.json").write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    print(f"{out}: metrics {kept}")


if __name__ == "__main__":
    main()
