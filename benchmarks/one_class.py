"""One-class anomaly detection with the zoo's autoencoders, by the protocol of Ruff et al. (ICML 2018).

For each class ``c`` of MNIST and Fashion-MNIST: train a fresh model on the training images of
class ``c`` only, score every image of the test split by its reconstruction error (the mean
squared error per pixel), and report the ROC AUC with class ``c`` as normal and the nine other
classes as anomalies. Every (dataset, class) is repeated over several seeds; the table gives the
mean ± standard deviation over seeds, in percent, beside the paper's Deep SVDD numbers.

The models are the zoo's own (``aezoo.create``) and are trained with ``aezoo.train``; scores and
AUROC come from ``aezoo.applications.anomaly`` (``reconstruction_errors``, ``roc_auc``). Pixels are in
[0, 1] as ``aezoo.load_dataset`` gives them (no global contrast normalisation).

Run (all 10 classes x 2 datasets x 3 seeds; results are written after every run, and a rerun
with the same ``--out`` skips the runs already there; one process per dataset side by side, each
with its own file, and ``--render`` merges them):

    python benchmarks/one_class.py --data-dir DIR --threads 1 --datasets mnist --out RESULTS.json
    python benchmarks/one_class.py --render RESULTS.json [MORE.json ...]   # the Markdown table

``--many`` trains all the classes × seeds of a dataset in one ``aezoo.train_many`` run (issue 28):
the same models as the one-by-one runs (to float tolerance: tests/test_many.py).

Seeds run outermost, so a run cut short still holds every class of its first seeds. A quick
smoke run: ``--datasets mnist --classes 0 5 --seeds 0 --epochs 1``. DIR holds MNIST and
Fashion-MNIST in torchvision's layout (e.g. ../shared/data). BENCHMARKS.md has the exact commands
of its tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

import aezoo
from aezoo.applications.anomaly import reconstruction_errors, roc_auc
from aezoo.data import DeviceDataset, load_dataset
from aezoo.io.serialization import atomic_write
from aezoo.training.outputs import hardware_name

DATASETS = ("mnist", "fashion-mnist")

#: Ruff et al., "Deep One-Class Classification", ICML 2018, Table 1: One-Class Deep SVDD, AUROC in %
#: (mean over 10 seeds) per MNIST class 0..9, and their mean. The paper has no Fashion-MNIST experiment.
#: Copied from two independent reproductions that quote the paper's column (one of them with its
#: standard deviations); the ten values average to the paper's 94.8.
PAPER: dict[str, dict[str, Any]] = {
    "mnist": {
        "source": "Ruff et al. 2018 (ICML), Table 1, One-Class Deep SVDD",
        "mean": 94.8,
        "per_class": [98.0, 99.7, 91.7, 91.9, 94.9, 88.5, 98.3, 94.6, 93.9, 96.5],
    },
    "fashion-mnist": {"source": None, "mean": None, "per_class": None},
}

#: The default recipe: the zoo's conv autoencoder with a narrow code, trained briefly.
DEFAULT_ARCH = "conv"
DEFAULT_MODEL_ARGS = {"latent_dim": 16, "channels": (16, 32)}
DEFAULT_TRAIN = {"epochs": 10, "batch_size": 64, "lr": 2e-3, "schedule": "cosine", "val_fraction": 0.0}


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs (values read as JSON when they parse, else kept as strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def one_run(
    train: DeviceDataset,
    test: DeviceDataset,
    normal_class: int,
    seed: int,
    *,
    arch: str,
    model_args: Mapping[str, Any],
    train_args: Mapping[str, Any],
) -> dict[str, Any]:
    """Train on ``normal_class`` only, score the whole test split; the run's AUROC and timings."""
    assert train.y is not None and test.y is not None
    normal = train.subset(train.y == normal_class)
    torch.manual_seed(seed)
    model = aezoo.create(arch, input_shape=tuple(train.shape), **model_args)
    t0 = time.perf_counter()
    aezoo.train(model, normal, seed=seed, device="cpu", progress=False, **train_args)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = reconstruction_errors(model, test)
    score_s = time.perf_counter() - t0
    return {
        "class": normal_class,
        "seed": seed,
        "auroc": roc_auc(scores, test.y != normal_class),
        "n_train": len(normal),
        "n_test": len(test),
        "train_s": round(train_s, 2),
        "score_s": round(score_s, 2),
    }


def many_runs(
    train: DeviceDataset,
    test: DeviceDataset,
    classes: Sequence[int],
    seeds: Sequence[int],
    *,
    arch: str,
    model_args: Mapping[str, Any],
    train_args: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """:func:`one_run` for every class × seed, all trained at once by ``aezoo.train_many`` (issue 28)."""
    assert test.y is not None
    t0 = time.perf_counter()
    models = aezoo.train_many(
        arch,
        train,
        seeds=seeds,
        per_class=classes,
        model_config={"input_shape": tuple(train.shape), **model_args},
        device="cpu",
        progress=False,
        **train_args,
    )
    train_s = (time.perf_counter() - t0) / len(models)  # the members' share of the one run
    rows = []
    for c in classes:
        for seed in seeds:
            model = models[f"class-{c}-seed-{seed}"]
            t0 = time.perf_counter()
            scores = reconstruction_errors(model, test)
            rows.append(
                {
                    "class": c,
                    "seed": seed,
                    "auroc": roc_auc(scores, test.y != c),
                    "n_train": int((train.y == c).sum()) if train.y is not None else None,
                    "n_test": len(test),
                    "train_s": round(train_s, 2),
                    "score_s": round(time.perf_counter() - t0, 2),
                    "train_many": len(models),
                }
            )
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    model_args = {**DEFAULT_MODEL_ARGS, **parse_set(args.set)}
    train_args = {**DEFAULT_TRAIN, **parse_set(args.train_set), **({"epochs": args.epochs} if args.epochs else {})}
    setup = {"arch": args.arch, "model_args": model_args, "train": train_args, "score": "mse"}
    results: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    if results and results.get("setup") != json.loads(json.dumps(setup)):
        raise SystemExit(f"{out} holds runs of another setup ({results.get('setup')}); give another --out")
    results.update(
        setup=setup,
        protocol="Ruff et al. 2018: train on one class, AUROC on the whole test split, other classes anomalous",
        hardware=hardware_name(torch.device("cpu")),
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        aezoo_version=aezoo.__version__,
        python=platform.python_version(),
    )
    runs: list[dict[str, Any]] = results.setdefault("runs", [])
    done = {(r["dataset"], r["class"], r["seed"]) for r in runs}
    t_start = time.perf_counter()
    # Seeds outermost: a run cut short still has every class of the first seeds.
    todo = [(s, d, c) for s in args.seeds for d in args.datasets for c in args.classes if (d, c, s) not in done]
    splits: dict[str, tuple[DeviceDataset, DeviceDataset]] = {}
    if args.many:  # every remaining class x seed of a dataset in one train_many run
        for name in args.datasets:
            classes = sorted({c for s, d, c in todo if d == name})
            seeds = sorted({s for s, d, c in todo if d == name})
            if not classes:
                continue
            train = load_dataset(name, "train", root=args.data_dir)
            test = load_dataset(name, "test", root=args.data_dir)
            kw = {"arch": args.arch, "model_args": model_args, "train_args": train_args}
            rows = many_runs(train, test, classes, seeds, **kw)
            runs += [{"dataset": name, **r} for r in rows if (name, r["class"], r["seed"]) not in done]
            with atomic_write(out, "w") as f:
                f.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
            print(f"{name}: {len(rows)} models in {(time.perf_counter() - t_start) / 60:.1f} min", flush=True)
        todo = []
    for s, name, c in todo:
        if name not in splits:
            splits[name] = (
                load_dataset(name, "train", root=args.data_dir),
                load_dataset(name, "test", root=args.data_dir),
            )
        train, test = splits[name]
        r = {
            "dataset": name,
            **one_run(train, test, c, s, arch=args.arch, model_args=model_args, train_args=train_args),
        }
        runs.append(r)
        with atomic_write(out, "w") as f:
            f.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(
            f"{name} class {c} seed {s}: AUROC {100 * r['auroc']:.2f}  (train {r['train_s']:.0f} s, "
            f"score {r['score_s']:.0f} s; {(time.perf_counter() - t_start) / 60:.1f} min so far)",
            flush=True,
        )
    return results


# ----------------------------------------------------------------------------- the table
def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(results: Mapping[str, Any]) -> dict[str, dict[int, list[float]]]:
    """``{dataset: {class: [auroc %, one per seed]}}``."""
    table: dict[str, dict[int, list[float]]] = {}
    for r in results["runs"]:
        table.setdefault(r["dataset"], {}).setdefault(int(r["class"]), []).append(100 * r["auroc"])
    return table


def merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One results dict from several files of the same setup (e.g. one per dataset, run side by side)."""
    setups = {json.dumps(p["setup"], sort_keys=True) for p in parts}
    if len(setups) > 1:
        raise SystemExit(f"the results files hold runs of different setups: {sorted(setups)}")
    return {**parts[0], "runs": [r for p in parts for r in p["runs"]]}


def render(results: Mapping[str, Any]) -> str:
    """The Markdown table: per class the zoo's mean ± std over seeds beside Deep SVDD's number."""
    table = summarize(results)
    setup = results["setup"]
    lines = []
    for name in (d for d in DATASETS if d in table):
        per_class = table[name]
        paper = PAPER[name]
        seeds = sorted({len(v) for v in per_class.values()})
        lines += [
            f"**{name}** — `{setup['arch']}` {setup['model_args']}, {setup['train']['epochs']} epochs; "
            f"AUROC %, mean ± std over {'/'.join(map(str, seeds))} seeds",
            "",
            "| class | aezoo | Deep SVDD (paper) |",
            "|---:|---:|---:|",
        ]
        for c in sorted(per_class):
            m, s = _mean_std(per_class[c])
            ref = paper["per_class"][c] if paper["per_class"] else None
            lines.append(f"| {c} | {m:.1f} ± {s:.1f} | {ref if ref is not None else 'n/a'} |")
        # The mean over classes of each seed's run, then mean ± std of those over seeds.
        by_seed: dict[int, list[float]] = {}
        for r in results["runs"]:
            if r["dataset"] == name:
                by_seed.setdefault(int(r["seed"]), []).append(100 * r["auroc"])
        complete = [statistics.fmean(v) for v in by_seed.values() if len(v) == len(per_class)]
        m, s = _mean_std(complete) if complete else (statistics.fmean(v for vs in per_class.values() for v in vs), 0.0)
        ref = paper["mean"]
        lines += [f"| **mean** | **{m:.1f} ± {s:.1f}** | **{ref if ref is not None else 'n/a'}** |", ""]
    runs = results["runs"]
    lines.append(
        f"{len(runs)} runs, {sum(r['train_s'] + r['score_s'] for r in runs) / 60:.0f} min of training and scoring on "
        f"{results['hardware']}, torch {results['torch_version']}, "
        f"aezoo {results['aezoo_version']}."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default=None, help="Folder with MNIST/FashionMNIST (torchvision layout).")
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--classes", nargs="+", type=int, default=list(range(10)))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help=f"Epochs per run (default {DEFAULT_TRAIN['epochs']}).")
    p.add_argument("--arch", default=DEFAULT_ARCH, help="A zoo architecture (default: %(default)s).")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Model config overrides.")
    p.add_argument("--train-set", nargs="*", default=[], metavar="KEY=VALUE", help="aezoo.train overrides.")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's).")
    p.add_argument(
        "--many", action="store_true", help="Train every class x seed of a dataset at once with aezoo.train_many."
    )
    p.add_argument("--out", default="benchmarks/results/one_class_cpu.json", help="JSON with every run.")
    p.add_argument("--render", metavar="JSON", nargs="+", default=None, help="Print the Markdown table of results.")
    args = p.parse_args(argv)
    if args.render:
        print(render(merge([json.loads(Path(f).read_text()) for f in args.render])))
        return 0
    if any(not 0 <= c <= 9 for c in args.classes):
        p.error(f"--classes are 0..9, got {args.classes}")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run(args)
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
