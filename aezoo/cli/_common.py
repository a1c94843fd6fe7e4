"""Options shared by several commands."""

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
        help="mnist, fashion-mnist, cifar10, or a path to your own data (image folder, .npy/.npz/.pt, .csv).",
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
    if value:
        set_enabled(False)


def quiet_option(f: F) -> F:
    """``--quiet``/``-q``: no progress output (bars on a terminal, periodic lines elsewhere)."""
    return click.option(
        "--quiet",
        "-q",
        is_flag=True,
        expose_value=False,
        callback=_quiet,
        help="No progress output (a bar on a terminal, periodic lines in logs).",
    )(f)
