"""``aezoo drift``: has new data drifted from a reference, in a model's code space?

Exit status: 0 when no batch drifted, 3 when at least one did (1 is an error, 2 a usage
mistake, as for every command), so scripts and CI jobs can branch on it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    data_options,
    device_option,
    json_option,
    limit_option,
    model_argument,
    quiet_option,
    split_option,
)
from .applications import _data, _model, _model_ref

if TYPE_CHECKING:
    from aezoo.applications.drift import DriftResult

#: The exit status of ``aezoo drift`` when some batch drifted.
DRIFT_EXIT = 3


@click.command("drift")
@model_argument
@click.option(
    "--reference",
    default=None,
    help="Data the model's codes are compared with (what --dataset accepts): a built-in name or your own file/folder.",
)
@click.option("--reference-split", default="train", show_default=True, help="Split of a built-in --reference.")
@click.option(
    "--reference-limit", type=click.IntRange(min=2), default=None, help="Use the first N reference samples only."
)
@data_options
@split_option("Split of a built-in --dataset: the new data to test.")
@limit_option("Test the first N samples of --dataset only.")
@click.option(
    "--batch-size",
    "-b",
    type=click.IntRange(min=2),
    default=None,
    help="Test --dataset in consecutive batches of N samples, one test each (default: all of it in one test).",
)
@click.option("--alpha", type=float, default=None, help="Level of each test (default 0.05, or the saved detector's).")
@click.option(
    "--rule",
    type=click.Choice(["combined", "mmd", "ks"]),
    default=None,
    help="combined (default): MMD or any Holm-corrected KS dimension at alpha/2 each; mmd or ks alone at alpha.",
)
@click.option(
    "--permutations",
    type=click.IntRange(min=1),
    default=None,
    help="Permutations of the MMD test (default 1000, or the saved detector's; the smallest p-value is 1/(N+1)).",
)
@click.option(
    "--max-reference",
    type=click.IntRange(min=2),
    default=2000,
    show_default=True,
    help="Reference samples kept (a random subset, fixed by --seed): the test's cost grows as their square.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the subset and the permutations.")
@click.option("--save", type=click.Path(dir_okay=False), default=None, help="Save the detector: PATH.json + codes.")
@click.option(
    "--detector",
    type=click.Path(dir_okay=False),
    default=None,
    help="Test against a detector saved with --save instead of fitting on --reference.",
)
@device_option
@quiet_option
@json_option("Print the report as JSON instead of a table.")
@click.pass_context
def drift_cmd(
    ctx: click.Context,
    model: str,
    reference: str | None,
    reference_split: str,
    reference_limit: int | None,
    dataset: str,
    data_dir: str | None,
    split: str,
    limit: int | None,
    batch_size: int | None,
    alpha: float | None,
    rule: str | None,
    permutations: int,
    max_reference: int,
    seed: int,
    save: str | None,
    detector: str | None,
    device: str,
    as_json: bool,
) -> None:
    """Test whether --dataset is distributed like --reference, in MODEL_OR_DIR's code space:
    an MMD permutation test and per-dimension KS tests (Holm-corrected) on the codes.

    \b
    aezoo drift conv-mnist --reference mnist --dataset fashion-mnist --batch-size 200
    aezoo drift runs/mlp --reference normal.csv --dataset new.csv --save drift.json
    aezoo drift runs/mlp --detector drift.json --dataset tomorrow.csv --json

    Exit status 0: no batch drifted; 3: at least one did (1: an error).
    """
    from aezoo.applications.drift import DriftDetector
    from aezoo.core.errors import InputError

    if (reference is None) == (detector is None):
        raise InputError(
            "give --reference DATA (the data to compare with) or --detector PATH (a detector saved with --save), "
            "one of the two"
        )
    net = _model(model, device)
    if detector is not None:
        det = DriftDetector.load(detector, net).with_settings(alpha=alpha, rule=rule, n_permutations=permutations)
        fitted_on = f"{detector} ({det.n_reference} reference codes)"
    else:
        assert reference is not None
        ref = _data(reference, reference_split, data_dir, str(net.device), reference_limit)
        det = DriftDetector.fit(
            net,
            ref,
            alpha=0.05 if alpha is None else alpha,
            rule=rule or "combined",
            n_permutations=permutations or 1000,
            max_reference=max_reference,
            seed=seed,
            model_ref=_model_ref(model),
        )
        fitted_on = f"{ref.name} ({det.n_reference} of {len(ref)} samples)"
    new = _data(dataset, split, data_dir, str(net.device), limit)
    if len(new) < 2:
        raise InputError(f"--dataset {new.name!r} has {len(new)} samples; a drift test needs at least 2")
    results = det.test_batches(new, batch_size or len(new))
    report: dict[str, Any] = {
        "reference": fitted_on,
        "dataset": new.name,
        "rule": det.rule,
        "alpha": det.alpha,
        "correction": det.correction,
        "bandwidth": det.bandwidth,
        "n_permutations": det.n_permutations,
        "batches": len(results),
        "drifted_batches": sum(r.drift for r in results),
        "drift": any(r.drift for r in results),
    }
    if save is not None:
        report["saved"] = str(det.save(save))
    if as_json:
        click.echo(json.dumps({**report, "results": [r.to_dict() for r in results]}, indent=2))
    else:
        click.echo(_table(report, results))
    if report["drift"]:
        ctx.exit(DRIFT_EXIT)


_RULES = {
    "combined": "MMD p <= alpha/2 or a Holm-corrected KS p <= alpha/2",
    "mmd": "MMD permutation p <= alpha",
    "ks": "a Holm-corrected KS p <= alpha",
}


def _table(report: dict[str, Any], results: list[DriftResult]) -> str:
    """The settings as two columns, then one row per batch, then the verdict."""
    from aezoo.evaluation.metrics import format_table

    head = {k: v for k, v in report.items() if k not in ("drift", "batches", "drifted_batches")}
    head["rule"] = f"{report['rule']} (drift: {_RULES[report['rule']]})"
    header = ("batch", "n", "mmd2", "mmd_p", "ks_p_min", "p_value", "drifted_dims", "drift")
    rows = [
        (
            str(i),
            str(r.n),
            f"{r.mmd2:.4g}",
            f"{r.mmd_p_value:.4g}",
            f"{min(r.ks_p_values):.4g}",
            f"{r.p_value:.4g}",
            _dims(r.drifted_dimensions),
            "DRIFT" if r.drift else "-",
        )
        for i, r in enumerate(results)
    ]
    widths = [max(len(h), *(len(row[c]) for row in rows)) for c, h in enumerate(header)]
    lines = [format_table(head), ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    n, k = report["batches"], report["drifted_batches"]
    verdict = f"drift in {k} of {n} batches (exit status {DRIFT_EXIT})" if k else f"no drift in {n} batches"
    return "\n".join([*lines, "", verdict])


def _dims(dims: tuple[int, ...]) -> str:
    if not dims:
        return "-"
    shown = ",".join(map(str, dims[:8]))
    return shown + (f",... ({len(dims)})" if len(dims) > 8 else "")
