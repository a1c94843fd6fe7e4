"""Linear-probe accuracy of every bundled pretrained model's codes, beside PCA with as many components.

    python benchmarks/linear_probe.py --data-dir ../shared/data [--out benchmarks/results/linear_probe.json]

For each model: the codes of its dataset's whole training split train a multinomial logistic
regression (``aezoo.evaluation.probe.LinearProbe``: L-BFGS, l2 1e-4, standardised features), scored on the
test split; the baseline is the same probe on the first ``latent_dim`` principal components of
the training images (``pca_probe_accuracy``). Prints a markdown table and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="datasets in torchvision's layout (default: $AEZOO_DATA)")
    p.add_argument("--out", default="benchmarks/results/linear_probe.json")
    p.add_argument("--models", nargs="*", default=None, help="pretrained names (default: all)")
    args = p.parse_args()
    import torch

    import aezoo
    from aezoo.evaluation.probe import linear_probe
    from aezoo.io.serialization import atomic_write
    from aezoo.training.outputs import hardware_name

    names = args.models or aezoo.list_models(pretrained=True)
    splits: dict[str, tuple[aezoo.DeviceDataset, aezoo.DeviceDataset]] = {}
    rows = []
    for name in names:
        dataset = aezoo.get_pretrained(name).dataset
        if dataset not in splits:
            splits[dataset] = tuple(aezoo.load_dataset(dataset, s, root=args.data_dir) for s in ("train", "test"))
        start = time.perf_counter()
        result = linear_probe(aezoo.load(name), *splits[dataset])
        rows.append({"model": name, "dataset": dataset, **result, "seconds": time.perf_counter() - start})
        r = rows[-1]
        print(f"{name}: probe {r['probe_accuracy']:.4f}, pca {r['pca_probe_accuracy']:.4f} ({r['seconds']:.0f} s)")
    record = {
        "hardware": hardware_name(torch.device("cpu")),
        "torch": torch.__version__,
        "aezoo": aezoo.__version__,
        "python": platform.python_version(),
        "command": "python benchmarks/linear_probe.py --data-dir ../shared/data",
        "results": rows,
    }
    with atomic_write(Path(args.out), "w") as f:
        f.write(json.dumps(record, indent=2) + "\n")
    print()
    print("| model | code | linear probe (test acc.) | PCA, same size | difference |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        diff = r["probe_accuracy"] - r["pca_probe_accuracy"]
        print(
            f"| `{r['model']}` | {r['probe_dim']} | {r['probe_accuracy']:.4f} | {r['pca_probe_accuracy']:.4f} "
            f"| {diff:+.4f} |"
        )


if __name__ == "__main__":
    main()
