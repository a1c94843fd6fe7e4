"""Where a pretrained entry's files come from, and whether they are the ones it pins.

An entry (:class:`~aezoo.io.pretrained.Pretrained`) pins the whole model: the sha256 of
``model.safetensors``, the architecture, its config and the preprocessing. :func:`resolve` tries, in
order, the bundled copies (:func:`~aezoo.io.pretrained.bundled_dirs`), the HF cache and the Hub
(:func:`~aezoo.hub.transport.fetch_model_files`), and takes the first that is exactly the pinned model.
The config is compared field by field through the architecture's config class, which the caller
passes: this layer knows files and pins, never the registry.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..core.config import AEConfig, config_from_dict, config_to_dict
from ..core.errors import ConfigError, HubError, WeightsError
from ..data.preprocessing import Preprocessing
from ..io.pretrained import Pretrained, bundled_dirs
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, read_config, sha256_file
from .transport import fetch_model_files

__all__ = ["entry_problem", "resolve"]


def entry_problem(
    entry: Pretrained, folder: str | Path, *, config_class: type[AEConfig], hash_weights: bool = True
) -> str | None:
    """Why the model in ``folder`` is not the one ``entry`` pins (weights, architecture, config,
    preprocessing), or ``None`` when it is. ``config_class`` is the architecture's; ``hash_weights=False``
    leaves the weights' sha256 to the caller (a strict load hashes the very bytes it loads)."""
    folder = Path(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        return f"no {WEIGHTS_NAME}"
    if hash_weights and (actual := sha256_file(weights)) != entry.sha256:
        return f"{weights} has sha256 {actual}, not the pinned {entry.sha256}"
    try:
        data = read_config(folder)
    except WeightsError as e:
        return str(e)
    path = folder / CONFIG_NAME
    if data.get("architecture") != entry.architecture:
        return f"{path} says architecture {data.get('architecture')!r}, the entry pins {entry.architecture!r}"
    want = config_to_dict(config_from_dict(config_class, dict(entry.config)))
    try:
        got = config_to_dict(config_from_dict(config_class, data["config"]))
    except ConfigError as e:
        return f"{path} has an invalid config ({e})"
    changed = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    if changed:
        return f"{path} changes the pinned config: " + ", ".join(
            f"{k}={got.get(k)!r} (pinned {want.get(k)!r})" for k in changed
        )
    try:
        pre = Preprocessing.from_dict(data.get("preprocessing")).to_dict()
    except ConfigError as e:
        return f"{path} has an invalid preprocessing ({e})"
    pinned = Preprocessing.from_dict(entry.preprocessing).to_dict()
    if pre != pinned:
        return f"{path} changes the pinned preprocessing: {pre} (pinned {pinned})"
    return None


def resolve(
    entry: Pretrained,
    *,
    config_class: type[AEConfig],
    revision: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
) -> tuple[Path, Pretrained | None]:
    """A local folder holding ``entry``'s model, verified, and the entry it was verified against.

    Sources, in order: bundled copies, the HF cache, the Hub. A copy that differs from the pin in any
    file is skipped (with a warning when another source had the right one). ``revision`` other than
    the pinned one loads that revision, checked against the Hub's hashes only (the pin does not cover
    it): the second value is then ``None``.
    """
    pinned = revision in (None, entry.revision)
    tried: list[str] = []
    bad: list[tuple[Path, str]] = []

    def problem(folder: Path) -> str | None:
        return entry_problem(entry, folder, config_class=config_class)

    if pinned:
        for directory in bundled_dirs(entry.name):
            if not (directory / WEIGHTS_NAME).is_file():
                tried.append(f"bundled {directory} (not there)")
                continue
            found = problem(directory)
            if found is None:
                _warn_skipped(bad, directory)
                return directory, entry
            bad.append((directory, found))
            tried.append(f"bundled {directory} ({found})")
    try:
        folder = fetch_model_files(
            entry.repo_id,
            revision or entry.revision,
            token=token,
            expected_sha256=entry.sha256 if pinned else None,
            check=problem if pinned else None,
            tried=tried,
            timeout=timeout,
        )
    except (HubError, WeightsError) as e:
        if bad:
            path, found = bad[0]
            raise WeightsError(
                f"pretrained {entry.name!r}: {found}: the copy in {path} is corrupted or was tampered with, and "
                f"no other source had the pinned model ({e}). Fix: restore or delete {path}, then load once online"
            ) from None
        raise type(e)(f"pretrained {entry.name!r}: {e}") from None
    _warn_skipped(bad, folder)
    return folder, entry if pinned else None


def _warn_skipped(bad: list[tuple[Path, str]], used: Path) -> None:
    """One warning for the copies a load skipped (each named, with why), none when it skipped nothing."""
    if bad:
        why = "; ".join(f"{path} ({found})" for path, found in bad)
        warnings.warn(
            f"ignored {len(bad)} copy(ies) that are not the pinned model: {why}; loaded the pinned model from "
            f"{used}. Fix: restore or delete the ignored folder(s)",
            UserWarning,
            stacklevel=5,
        )
