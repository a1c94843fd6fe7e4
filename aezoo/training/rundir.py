"""A run owns its output folder: one writer at a time, and no fresh run over another run's files.

:func:`claim_run_dir` holds an exclusive lock on ``<out>/.aezoo-run.lock`` for the whole run
(``fcntl.flock``; ``msvcrt.locking`` on Windows). The kernel drops the lock when its process
ends, however it ends, so the folder of a killed run is free again at once: there is no stale
lock to clean up. A second process (or thread) that asks for a held folder is refused at once,
with the holder's pid, host, start time and command.

Holding the lock, a fresh run refuses a folder that holds another run's files unless it is told
to ``overwrite`` (then those files are removed first, so the folder never mixes two runs) or to
``resume``. The same thread may claim a folder it holds again (the layer-wise engine holds its
``--out`` for the whole pretraining and hands it to the fine-tuning Trainer). Under ``torchrun``,
:func:`claim_for_ranks` has rank 0 claim the folder and every rank fail together if it cannot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..core.errors import AezooError, ConfigError, TrainingError
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME
from .checkpoint import CHECKPOINT_JSON, CHECKPOINT_TENSORS, PREVIOUS_TENSORS
from .outputs import HISTORY_NAME, LOSS_CURVE_NAME

if TYPE_CHECKING:
    from .distributed import DistEnv

__all__ = ["LOCK_NAME", "RUN_FILES", "claim_for_ranks", "claim_run_dir"]

LOCK_NAME = ".aezoo-run.lock"
#: The files a run writes; their presence means the folder holds a run.
RUN_FILES = (
    WEIGHTS_NAME,
    CONFIG_NAME,
    CHECKPOINT_JSON,
    CHECKPOINT_TENSORS,
    PREVIOUS_TENSORS,
    HISTORY_NAME,
    LOSS_CURVE_NAME,
)

_held: dict[str, tuple[int, int]] = {}  # real path -> (thread id, depth) of the folders this process holds
_held_guard = threading.Lock()


@contextlib.contextmanager
def claim_run_dir(
    directory: str | os.PathLike[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    extra_files: Iterable[str] = (),
) -> Iterator[Path]:
    """Hold ``directory`` (created if needed) for one run; refuse it if another run holds or owns it.

    ``extra_files`` are more names (beside :data:`RUN_FILES`) that belong to a run of the caller.

    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> with claim_run_dir(out):
    ...     with claim_run_dir(out):  # the same thread may claim it again
    ...         pass
    """
    if resume and overwrite:
        raise ConfigError(
            "resume and overwrite exclude each other: --resume continues the run, --overwrite replaces it"
        )
    directory = _make_dir(Path(directory))
    key = os.path.realpath(directory)
    me = threading.get_ident()
    with _held_guard:
        owner = _held.get(key)
        if owner is not None and owner[0] == me:
            _held[key] = (me, owner[1] + 1)
    if owner is not None and owner[0] == me:
        try:
            yield directory
        finally:
            with _held_guard:
                _held[key] = (me, _held[key][1] - 1)
        return
    fd = _lock(directory)
    try:
        with _held_guard:
            _held[key] = (me, 1)
        _check_fresh(directory, resume, overwrite, (*RUN_FILES, *extra_files))
        yield directory
    finally:
        with _held_guard:
            _held.pop(key, None)
        _unlock(fd, directory / LOCK_NAME)


@contextlib.contextmanager
def claim_for_ranks(directory: Path, env: DistEnv, *, resume: bool, overwrite: bool) -> Iterator[None]:
    """Rank 0 holds ``directory`` (:func:`claim_run_dir`) for the run; every rank fails together if it cannot."""
    with contextlib.ExitStack() as stack:
        error: AezooError | None = None
        if env.is_main:
            try:
                stack.enter_context(claim_run_dir(directory, resume=resume, overwrite=overwrite))
            except AezooError as e:
                error = e
        failed = env.all_reduce_sum(torch.tensor([float(error is not None)], device=env.device))
        if error is not None:
            raise error
        if float(failed[0]):
            raise TrainingError(f"rank 0 could not take the output folder {directory} (see its error)")
        yield


def _make_dir(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise TrainingError(f"the output folder {str(directory)!r} is a file; give a folder for --out") from None
    except OSError as e:
        raise TrainingError(f"cannot create the output folder {str(directory)!r} ({e.strerror or e})") from None
    return directory


def _check_fresh(directory: Path, resume: bool, overwrite: bool, names: tuple[str, ...]) -> None:
    present = [n for n in dict.fromkeys(names) if (directory / n).exists()]
    if resume or not present:
        return
    if not overwrite:
        raise TrainingError(
            f"{directory} already holds a run ({', '.join(present)}); continue it with --resume (API: "
            "resume=True), replace it with --overwrite (API: overwrite=True), or choose another --out"
        )
    for name in present:
        try:
            (directory / name).unlink()
        except OSError as e:
            raise TrainingError(f"--overwrite: cannot remove {directory / name} ({e.strerror or e})") from None


# ------------------------------------------------------------------ the lock itself
def _lock(directory: Path) -> int | None:
    """An open descriptor holding the lock, or None where the filesystem cannot lock (warned)."""
    path = directory / LOCK_NAME
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise TrainingError(f"cannot create the lock file {path} ({e.strerror or e})") from None
        try:
            _try_lock(fd)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise TrainingError(
                f"{directory} is in use by another aezoo run ({holder}); wait for it to finish or choose "
                "another --out (a run that was killed frees its folder by itself)"
            ) from None
        except OSError as e:  # e.g. a network filesystem without locks
            warnings.warn(f"cannot lock {path} ({e.strerror or e}); running without the lock", stacklevel=4)
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            _write_holder(fd)
            return fd
        os.close(fd)  # its last holder removed that file after we opened it: lock the new one
    raise TrainingError(f"could not lock {path}: it keeps being replaced")  # pragma: no cover


def _unlock(fd: int | None, path: Path) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(path)  # while still holding it: whoever opened it meanwhile sees it is stale
    os.close(fd)  # closing releases the lock


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        return f"pid {info['pid']} on {info['host']}, since {info['started']}: {info['command']}"
    except Exception:  # written by a run that was starting just now, or damaged
        return "a process that is just starting"


def _write_holder(fd: int) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:500] if sys.argv else "python",
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(info).encode("utf-8"))


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EDEADLK):
                raise BlockingIOError(e.errno, "locked") from None
            raise

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
