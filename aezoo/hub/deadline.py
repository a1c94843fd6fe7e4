"""One overall deadline for a whole load, pull or publish: ``timeout=``, else ``$AEZOO_HUB_TIMEOUT``, else 30 s.

huggingface_hub bounds each request (``etag_timeout``, ``HF_HUB_DOWNLOAD_TIMEOUT``: seconds without a
byte), not a transfer: a server that sends a few bytes every second never trips them, and the library
retries timeouts and 5xx answers with back-off. :meth:`Deadline.run` therefore runs the transfer in a
worker thread and stops waiting for it when the deadline passes. It then stops the transfer too: it
sets the ``cancelled`` event the worker checks between files, and closes the library's shared HTTP
session (``huggingface_hub.close_session``, public), which makes a read in progress fail at once, so
the library removes its temporary ``.incomplete`` file as it does on any failed download. A worker
blocked in a request that receives no byte at all ends at that request's own timeout; nothing it wrote
is kept, because the library only moves a file into the cache once it is complete, the transfer removes
what it brought when it fails, and aezoo verifies every cached file before using it. (Closing the shared
session also aborts a huggingface_hub request that another thread of the process has in flight at that
moment; the library reopens the session for the next one.)

>>> Deadline(5.0).run(lambda cancelled: "done")
'done'
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..core import settings
from ..core.errors import HubError

__all__ = ["DEFAULT_TIMEOUT", "TIMEOUT_ENV", "Deadline", "Expired", "hub_timeout"]

#: One overall time bound, in seconds, for a load or pull from the Hub (``timeout=`` wins over it).
TIMEOUT_ENV = "AEZOO_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
_GRACE = 1.0  # seconds a cut-off transfer gets to remove its partial file before the caller is answered

T = TypeVar("T")


class Expired(Exception):
    """The overall deadline of a transfer passed."""


def hub_timeout(timeout: float | None = None) -> float:
    """The overall deadline in seconds: ``timeout``, else ``$AEZOO_HUB_TIMEOUT``, else 30.

    >>> hub_timeout(5)
    5.0
    """
    source = "timeout"
    if timeout is None:
        text = (settings.text(TIMEOUT_ENV) or "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        source = TIMEOUT_ENV
        try:
            timeout = float(text)
        except ValueError:
            raise HubError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds; set it to e.g. 30") from None
    value = float(timeout)
    if not math.isfinite(value) or value <= 0:
        raise HubError(f"{source} must be a positive number of seconds, got {timeout!r}")
    return value


class Deadline:
    """One time bound shared by every request of a load or pull.

    >>> Deadline(5.0).left() <= 5.0
    True
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises :class:`Expired` when none are."""
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise self._expired()
        return remaining

    def _expired(self) -> Expired:
        return Expired(f"the transfer did not finish within its {self.seconds:g} s deadline")

    def run(self, transfer: Callable[[threading.Event], T]) -> T:
        """``transfer(cancelled)`` in a worker thread: its result, its exception, or :class:`Expired`.

        ``cancelled`` is set when the deadline passes (or the caller is interrupted); the transfer
        checks it before each file it starts.
        """
        result: list[T] = []
        error: list[BaseException] = []
        cancelled = threading.Event()

        def work() -> None:
            try:
                result.append(transfer(cancelled))
            except BaseException as e:  # handed to the caller's thread, which raises it
                error.append(e)

        worker = threading.Thread(target=work, name="aezoo-hub-transfer", daemon=True)
        worker.start()
        try:
            worker.join(max(0.0, self._end - time.monotonic()))
        finally:
            cut = worker.is_alive()  # the deadline passed, or the caller got a KeyboardInterrupt
            if cut:
                _stop(worker, cancelled)
        if cut:  # what the stopped transfer raised (a closed connection) is not the reason
            raise self._expired()
        if error:
            raise error[0]
        return result[0]


def _stop(worker: threading.Thread, cancelled: threading.Event) -> None:
    """Stop a transfer: no new file, the open connection closed, a moment to clean up."""
    from huggingface_hub import close_session

    cancelled.set()
    close_session()  # the shared client is recreated on the next request
    worker.join(_GRACE)
