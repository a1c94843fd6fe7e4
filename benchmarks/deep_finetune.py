"""Fine-tuning variants of the 784-1000-500-250-30 deep autoencoder from the same pretrained stages.

Issue 14 asks for <= 2.6 test SSE/image with layer-wise pretraining. This script separates the
two halves so that fine-tuning recipes can be compared on equal footing:

    python benchmarks/deep_finetune.py stages --data-dir DIR --out /tmp/deep  # denoising stages, 20 epochs each
    python benchmarks/deep_finetune.py finetune --data-dir DIR --out /tmp/deep \\
        --recipe '{"epochs": 60, "lr": 3e-3, "schedule": "onecycle", "batch_size": 256, "shift": 1}' [--noise 0.1]

``stages`` pretrains the four stages as ``weights/build.sh deep-mnist`` does (denoising, 20 %
masking, 20 epochs each) and saves the unrolled model's state. ``finetune`` loads it, trains on all
60,000 training images with the given ``TrainConfig`` fields (``"shift": 1``: each training image
moved by a random offset of up to one pixel; ``--noise``: masking noise on the
input during fine-tuning, i.e. the unrolled model as a ``denoising`` architecture), and prints the
test SSE/image. The test split is passed as the Trainer's validation set to print its loss every
5 epochs; nothing is selected on it (the Trainer keeps the last weights).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

import aezoo
from aezoo.models.regularized import DenoisingAE
from aezoo.training import TrainConfig, Trainer
from aezoo.training.layerwise import LayerwiseConfig, pretrain


def test_sse(model: aezoo.Autoencoder, test: aezoo.DeviceDataset) -> float:
    return float(aezoo.evaluate(model, test, progress=False)["sse_per_image"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["stages", "finetune"])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, help="folder for the unrolled state (unrolled.pt)")
    p.add_argument("--recipe", default='{"epochs": 60, "lr": 3e-3, "schedule": "onecycle", "batch_size": 256}')
    p.add_argument("--noise", type=float, default=0.0, help="masking noise on the input while fine-tuning")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    train = aezoo.load_dataset("mnist", "train", root=args.data_dir)
    test = aezoo.load_dataset("mnist", "test", root=args.data_dir)
    state = args.out / "unrolled.pt"
    t0 = time.perf_counter()
    if args.step == "stages":
        cfg = LayerwiseConfig(kind="denoising", noise=0.2, layer_epochs=20, finetune_epochs=0, device="cpu", seed=0)
        model, _ = pretrain(cfg, train, progress=False)
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), state)
        print(f"stages: {time.perf_counter() - t0:.0f} s, unrolled test SSE/image {test_sse(model, test):.3f}")
        return
    recipe = json.loads(args.recipe)
    model = aezoo.create("deep")  # the unrolled model's architecture, 784-1000-500-250-30, logistic
    if args.noise:  # the same network as a denoiser: masking noise on its input while it trains
        fields = {f.name: getattr(model.config, f.name) for f in dataclasses.fields(model.config)}
        model = DenoisingAE.from_config(**{**fields, "noise": "masking", "noise_level": args.noise})
    model.load_state_dict(torch.load(state))
    history = Trainer(model, TrainConfig(device="cpu", seed=0, **recipe), progress=False).fit(train, test)
    print("test loss every 5 epochs:", [round(v, 4) for v in history.val["loss"][4::5]])
    print(
        f"RESULT {json.dumps({**recipe, 'noise': args.noise})}: test SSE/image {test_sse(model, test):.3f}, "
        f"train loss {history.train['loss'][-1]:.4f}, {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
