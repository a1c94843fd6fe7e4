"""The one error hierarchy of aezoo.

Every mistake a user can make ends in an :class:`AezooError` whose message says what happened,
why, and how to fix it. The CLI prints such errors as one line and exits non-zero.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AezooError",
    "ConfigError",
    "DataError",
    "ExportError",
    "HubError",
    "InputError",
    "MissingDependencyError",
    "PluginError",
    "TrainingError",
    "UnknownNameError",
    "WeightsError",
    "close_matches",
]


class AezooError(Exception):
    """Base class of every error aezoo raises for a user's input or environment."""


class UnknownNameError(AezooError, KeyError):
    """An architecture, pretrained model, dataset or option name that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(AezooError, ValueError):
    """A configuration value or key that is not valid."""


class InputError(AezooError, ValueError):
    """A tensor of the wrong shape, dtype or with non-finite values."""


class WeightsError(AezooError):
    """A weights file or model directory that is missing, corrupted, tampered with or mismatched."""


class DataError(AezooError):
    """A dataset that cannot be found, read or downloaded."""


class HubError(AezooError):
    """A failure talking to the Hugging Face Hub, or a file missing there and in the cache."""


class PluginError(AezooError):
    """A plugin that failed to load or declares something aezoo cannot accept."""


class TrainingError(AezooError):
    """A training run that cannot start, continue or resume."""


class ExportError(AezooError):
    """A model part that cannot be exported in the format asked for, or whose export does not match it."""


class MissingDependencyError(AezooError, ImportError):
    """An optional package a feature needs is not installed; the message gives the pip command."""


def close_matches(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` names from ``choices`` that look like ``name``, best first."""
    choices = list(choices)
    matches = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    prefix = [c for c in choices if c.startswith(name) and c not in matches]
    return (matches + sorted(prefix))[:n]


def unknown_name(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build an :class:`UnknownNameError` that lists the closest matches."""
    choices = sorted(choices)
    near = close_matches(name, choices)
    msg = f"unknown {kind} {name!r}"
    if near:
        msg += f"; did you mean {', '.join(repr(c) for c in near)}?"
    elif choices:
        shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
        msg += f"; known: {shown}"
    if hint:
        msg += f" ({hint})"
    return UnknownNameError(msg)
