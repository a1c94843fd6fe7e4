"""Drift detection on codes: false-positive rate and power of ``aezoo.DriftDetector`` with ``conv-mnist``.

The bundled ``conv-mnist`` (16-number codes) is fitted once on a random 2000 of the MNIST training
images (the detector's defaults: ``max_reference=2000``, 1000 permutations, median bandwidth,
alpha = 0.05). Then, for each batch size, many random batches (drawn without replacement within a
batch, each batch independently) are tested:

* **false positives** (no drift): batches of MNIST training images the reference did not take
  (exchangeable with it: the test's own null hypothesis), and batches of the MNIST test split
  (other writers: what "new data like the reference" looks like in practice);
* **power** (drift): Fashion-MNIST test images; MNIST test images plus Gaussian noise
  (``sigma`` in pixel units, pixels in [0, 1], clipped back to [0, 1]); MNIST test images rotated
  by ``angle`` degrees (bilinear, about the centre, zero fill).

Every test reports the three rules of the detector from one run (MMD alone: permutation p <= alpha;
KS alone: the smallest Holm-adjusted p <= alpha; combined, the default: either at alpha / 2) and
checks that the detector's own decision under its rule (``combined``) is the one recomputed here.
Rates come with 95 % Wilson score intervals.

Run (a few minutes on one CPU thread; BENCHMARKS.md has the command of its table):

    python benchmarks/drift.py --data-dir ../shared/data --threads 1 --out benchmarks/results/drift.json
    python benchmarks/drift.py --render benchmarks/results/drift.json   # the Markdown table
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import aezoo
from aezoo.applications.drift import DriftDetector
from aezoo.data import load_dataset
from aezoo.io.serialization import atomic_write
from aezoo.training.outputs import hardware_name


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Images ``(N, C, H, W)`` rotated by ``degrees`` about their centre (bilinear, zeros outside)."""
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a binomial proportion ``k / n``."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rates(detector: DriftDetector, codes: torch.Tensor, n: int, batches: int, seed: int) -> dict[str, Any]:
    """Rejection rates of the three rules over ``batches`` random batches of ``n`` of ``codes``."""
    g = torch.Generator().manual_seed(seed)
    alpha = detector.alpha
    hits = {"mmd": 0, "ks": 0, "combined": 0}
    t0 = time.perf_counter()
    for _ in range(batches):
        r = detector.test_codes(codes[torch.randperm(len(codes), generator=g)[:n]])
        ks_min = min(r.ks_p_values)
        decided = {"mmd": r.mmd_p_value <= alpha, "ks": ks_min <= alpha, "combined": r.p_value <= alpha}
        assert r.rule == "combined" and decided["combined"] == r.drift
        assert decided["combined"] == (min(r.mmd_p_value, ks_min) <= alpha / 2)
        for rule, flagged in decided.items():
            hits[rule] += int(flagged)
    out: dict[str, Any] = {"n": n, "batches": batches, "seconds_per_test": (time.perf_counter() - t0) / batches}
    for rule, k in hits.items():
        out[rule] = {"rate": k / batches, "ci95": wilson(k, batches), "rejected": k}
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    model = aezoo.load("conv-mnist")
    train = load_dataset("mnist", "train", root=args.data_dir)
    t0 = time.perf_counter()
    detector = DriftDetector.fit(model, train, seed=args.seed, model_ref="conv-mnist")
    fit_s = time.perf_counter() - t0
    # the training images the reference did not take: the same draw as fit's subset, complemented
    taken = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[: detector.n_reference]
    rest = torch.ones(len(train), dtype=torch.bool)
    rest[taken] = False
    # a random subset of them: the file's order is not random (writers come in runs), and a slice of it
    # would be a drifted sample, not a held-out one
    rest_index = torch.nonzero(rest).flatten()
    pick = torch.randperm(len(rest_index), generator=torch.Generator().manual_seed(args.seed + 2))
    held_out = rest_index[pick[: args.held_out]].sort().values
    mnist_test = load_dataset("mnist", "test", root=args.data_dir).x
    noise = torch.Generator().manual_seed(args.seed + 1)
    sets = {
        "mnist-train held out": train.subset(held_out).x,
        "mnist-test": mnist_test,
        "fashion-mnist-test": load_dataset("fashion-mnist", "test", root=args.data_dir).x,
        f"mnist-test + noise sigma={args.sigma}": (
            mnist_test + args.sigma * torch.randn(mnist_test.shape, generator=noise)
        ).clamp(0, 1),
        f"mnist-test rotated {args.angle} deg": rotate(mnist_test, args.angle),
    }
    codes = {name: detector.encode(x) for name, x in sets.items()}
    null = ("mnist-train held out", "mnist-test")
    rows = []
    for name, z in codes.items():
        batches = args.fpr_batches if name in null else args.power_batches
        for n in args.batch_sizes:
            row = {"data": name, "kind": "false positives" if name in null else "power"}
            row.update(rates(detector, z, n, batches, seed=args.seed + n))
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {
        "setup": {
            "model": "conv-mnist",
            "reference": f"mnist/train, {detector.n_reference} of {detector.n_reference_total} (seed {args.seed})",
            "alpha": detector.alpha,
            "n_permutations": detector.n_permutations,
            "bandwidth": detector.bandwidth,
            "sigma": args.sigma,
            "angle": args.angle,
            "fit_s": round(fit_s, 2),
            "hardware": hardware_name(torch.device("cpu")),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "aezoo": aezoo.__version__,
        },
        "rows": rows,
    }


def render(paths: Sequence[str]) -> str:
    """The Markdown table of result files written by :func:`run`."""
    lines = []
    for path in paths:
        result = json.loads(Path(path).read_text())
        s = result["setup"]
        lines += [
            f"Reference {s['reference']}; alpha = {s['alpha']}, {s['n_permutations']} permutations, "
            f"bandwidth {s['bandwidth']:.4g} (median heuristic); {s['hardware']}.",
            "",
            "| data | kind | batch | batches | MMD | KS (Holm) | combined (default) | s / test |",
            "| --- | --- | ---: | ---: | --- | --- | --- | ---: |",
        ]
        for r in result["rows"]:

            def cell(rule: str, r: dict[str, Any] = r) -> str:
                lo, hi = r[rule]["ci95"]
                return f"{100 * r[rule]['rate']:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"

            lines.append(
                f"| {r['data']} | {r['kind']} | {r['n']} | {r['batches']} | {cell('mmd')} | {cell('ks')} | "
                f"{cell('combined')} | {r['seconds_per_test']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", default=None, help="Folder with MNIST/ and FashionMNIST/ (torchvision layout).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--fpr-batches", type=int, default=200, help="Batches per size for the false-positive rates.")
    parser.add_argument("--power-batches", type=int, default=40, help="Batches per size for the power.")
    parser.add_argument("--held-out", type=int, default=10000, help="Held-out training images to draw from.")
    parser.add_argument("--sigma", type=float, default=0.1, help="Gaussian noise std, pixels in [0, 1].")
    parser.add_argument("--angle", type=float, default=10.0, help="Rotation in degrees.")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    parser.add_argument("--render", nargs="+", default=None, metavar="RESULTS", help="Print the Markdown table.")
    args = parser.parse_args(argv)
    if args.render:
        print(render(args.render))
        return
    result = run(args)
    if args.out:
        with atomic_write(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
