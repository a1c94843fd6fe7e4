"""Options and arguments shared by several commands, each written once.

The factories (``out_option(help)``, ``split_option(help)``...) keep what every command shares
(flags, type, default) and take what differs between them (mostly the help line).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..core.progress import set_enabled

F = Callable[..., Any]
Decorator = Callable[[F], F]

QUIET_HELP = "No progress output (a bar on a terminal, periodic lines in logs)."


def model_argument(f: F) -> F:
    """``MODEL_OR_DIR``: a pretrained name, a model directory or ``hf-hub:ORG/NAME``."""
    return click.argument("model", metavar="MODEL_OR_DIR")(f)


def out_option(help: str, *, required: bool = True, folder: bool = False) -> Decorator:
    """``--out``/``-o``: the file (``folder=True``: the folder) the command writes."""
    kind = click.Path(file_okay=False) if folder else click.Path(dir_okay=False)
    return click.option("--out", "-o", "out", type=kind, required=required, default=None, help=help)


def split_option(help: str) -> Decorator:
    """``--split``, the test split unless told otherwise."""
    return click.option("--split", default="test", show_default=True, help=help)


def batch_size_option(default: int) -> Decorator:
    """``--batch-size``/``-b`` of a command that has a fixed default."""
    return click.option("--batch-size", "-b", type=click.IntRange(min=1), default=default, show_default=True)


def limit_option(help: str, default: int | None = None) -> Decorator:
    """``--limit``: use the first N samples only (all of them when left out, unless ``default``)."""
    return click.option(
        "--limit", type=click.IntRange(min=1), default=default, show_default=default is not None, help=help
    )


def seed_option(help: str | None = None, default: int | None = 0) -> Decorator:
    """``--seed``, shown with its default (unless that is None: unseeded)."""
    return click.option("--seed", type=int, default=default, show_default=default is not None, help=help)


def count_option(default: int, maximum: int, help: str) -> Decorator:
    """``--n``: how many images, samples or paths a picture holds."""
    return click.option(
        "--n", "n", type=click.IntRange(min=1, max=maximum), default=default, show_default=True, help=help
    )


def json_option(help: str) -> Decorator:
    """``--json``: print JSON instead of text (the value is ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def nll_samples_option(help: str) -> Decorator:
    """``--nll-samples``: importance samples of the NLL (0 skips it)."""
    return click.option("--nll-samples", type=click.IntRange(min=0), default=0, show_default=True, help=help)


def precision_option(f: F) -> F:
    """``--precision`` of the training commands."""
    return click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "bf16"]),
        default="auto",
        show_default=True,
        help="auto: bf16 autocast on CUDA, fp32 elsewhere.",
    )(f)


def compile_option(help: str) -> Decorator:
    """``--compile`` (the value is ``compile_``)."""
    return click.option("--compile", "compile_", is_flag=True, help=help)


def overwrite_option(f: F) -> F:
    """``--overwrite`` of the commands that write a run into ``--out``."""
    return click.option(
        "--overwrite", is_flag=True, help="Replace the run that --out holds (its files are removed first)."
    )(f)


def _trackers(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name.strip() for v in value for name in v.split(",") if name.strip())


def log_option(f: F) -> F:
    """``--log``: experiment trackers for the run (aezoo.training.tracking), repeatable or comma-separated."""
    return click.option(
        "--log",
        "log",
        multiple=True,
        callback=_trackers,
        metavar="TRACKER",
        help="Log the run to tensorboard, mlflow, wandb and/or csv (repeatable or comma-separated), under "
        '--out/logs; all but csv are extras: pip install "aezoo[trackers]" (docs/tracking.md).',
    )(f)


def quiet_flag(f: F) -> F:
    """``--quiet``/``-q`` as a value (``quiet``) for commands that hand it to a trainer (see :func:`quiet_option`)."""
    return click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP)(f)


def data_options(f: F) -> F:
    """``--dataset`` and ``--data-dir``."""
    f = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Where datasets live (default: $AEZOO_DATA, then the aezoo cache directory).",
    )(f)
    f = click.option(
        "--dataset",
        "-d",
        default="mnist",
        show_default=True,
        help="mnist, fashion-mnist, cifar10, a path to your own data (image folder, .npy/.npz/.pt, .csv), or "
        'hf:OWNER/NAME[:SPLIT] (Hugging Face datasets; pip install "aezoo[hf]").',
    )(f)
    return f


def device_option(f: F) -> F:
    return click.option(
        "--device", default="auto", show_default=True, help="cuda, mps, cpu, or auto (cuda, then mps, then cpu)."
    )(f)


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """Parse ``--set key=value`` pairs; values are JSON when they parse as JSON, else strings.

    >>> parse_sets(("latent_dim=8", "noise=masking", "dims=[784,100,10]"))
    {'latent_dim': 8, 'noise': 'masking', 'dims': [784, 100, 10]}
    """
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def set_option(f: F) -> F:
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a model config field (repeatable), e.g. --set latent_dim=8; `aezoo info ARCH` lists the fields.",
    )(f)


def invocation(ctx: click.Context) -> str:
    """The command line as typed (``aezoo train conv --epochs 5 ...``), recorded so a run can be repeated.

    Falls back to the command's path (``aezoo train``) when not run from the console script.
    """
    argv0 = Path(sys.argv[0])
    if argv0.name == "aezoo" or (argv0.name == "__main__.py" and argv0.parent.name == "aezoo"):
        return shlex.join(["aezoo", *sys.argv[1:]])
    return " ".join(["aezoo", *ctx.command_path.split()[1:]])


def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:  # for this command only: an in-process caller (CliRunner, a notebook) gets progress back after it
        set_enabled(False)
        ctx.call_on_close(lambda: set_enabled(None))


def quiet_option(f: F) -> F:
    """``--quiet``/``-q``: no progress output (bars on a terminal, periodic lines elsewhere)."""
    return click.option(
        "--quiet",
        "-q",
        is_flag=True,
        expose_value=False,
        callback=_quiet,
        help=QUIET_HELP,
    )(f)
