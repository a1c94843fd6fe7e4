"""Progress for long work: one design for training, layer-wise pretraining, evaluation and applications.

On a terminal (and in a notebook, through tqdm's auto front-end) a tqdm bar; anywhere else (a log
file, ``| cat``, nohup, CI) plain lines on stderr, at most one every :data:`INTERVAL_ENV` seconds
(default 10; see ``docs/settings.md``), so a long job is never silent and a short one prints
nothing. ``progress=False`` in the API, ``--quiet`` on the CLI, :func:`set_enabled` or
``AEZOO_PROGRESS=0`` turn it off.

>>> with bar(3, "demo", enabled=False) as b:
...     for _ in range(3):
...         b.update()
"""

from __future__ import annotations

import sys
import time
from typing import Any

from . import settings

__all__ = ["ENV", "INTERVAL_ENV", "LineProgress", "bar", "enabled", "set_enabled", "write"]

ENV = "AEZOO_PROGRESS"  # 0/false/off: no progress output at all; "lines": plain lines even on a terminal
INTERVAL_ENV = "AEZOO_PROGRESS_INTERVAL"  # seconds between plain progress lines (default 10)
_switch: bool | None = None  # set_enabled(); None: decided per call


def set_enabled(flag: bool | None) -> None:
    """Turn progress output off (``False``) or back to automatic (``None``/``True``) for this process.

    >>> set_enabled(False); enabled(None)
    False
    >>> set_enabled(None)
    """
    global _switch
    _switch = flag


def enabled(progress: bool | None = None) -> bool:
    """Whether to show progress: ``progress=False``, :func:`set_enabled` (``False``) or ``$AEZOO_PROGRESS=0`` say no.

    >>> enabled(False)
    False
    """
    if progress is False or _switch is False:
        return False
    return settings.progress_mode() != "off"


def _interactive() -> bool:
    """A terminal or a Jupyter kernel: somewhere a redrawn bar makes sense."""
    if settings.progress_mode() == "lines":
        return False
    try:
        if sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class LineProgress:
    """tqdm's small interface (``update``, ``set_postfix``, ``close``) as periodic plain lines.

    A line reads ``epoch 2/5: 120/422 steps (28%), 31.5 steps/s, eta 9.6 s, loss=0.0412``. Nothing
    is printed before the first interval has passed; a task that printed anything ends with a
    final line.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "it", initial: int = 0) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._start_n = initial
        self.disable = False
        self.postfix = ""
        self._t0 = self._last = time.monotonic()
        self._interval = float(settings.progress_interval())
        self._printed = False
        self._closed = False

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._emit(now)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        if not self._closed and self._printed:
            self._emit(time.monotonic(), final=True)
        self._closed = True

    def _emit(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self._t0, 1e-9)
        done = self.n - self._start_n
        rate = done / elapsed
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}s"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:,.1f} {self.unit}s/s")
        if final:
            parts.append(f"{elapsed:.1f} s")
        elif self.total and rate > 0:
            parts.append(f"eta {_duration((self.total - self.n) / rate)}")
        if self.postfix:
            parts.append(self.postfix)
        print(", ".join(parts), file=sys.stderr, flush=True)
        self._printed = True


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def bar(
    total: int | None,
    desc: str,
    *,
    unit: str = "it",
    enabled: bool | None = None,
    initial: int = 0,
    leave: bool = False,
) -> Any:
    """A progress bar over ``total`` units: tqdm when interactive, :class:`LineProgress` otherwise.

    ``enabled=False`` (or the switches of :func:`enabled`) gives a disabled tqdm, whose methods do
    nothing and whose ``disable`` attribute is true.
    """
    from tqdm.auto import tqdm

    on = _enabled(enabled)
    if on and not _interactive():
        return LineProgress(total, desc, unit, initial)
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave, dynamic_ncols=True, disable=not on)


_enabled = enabled  # ``bar``'s parameter shadows the function's name


def write(line: str, *, enabled: bool | None = None) -> None:
    """Print one line of progress (e.g. an epoch summary) without breaking an active bar."""
    if not _enabled(enabled):
        return
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)
