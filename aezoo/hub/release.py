"""``aezoo release``: publish every bundle of a ``weights/`` folder to the Hub and pin it in a manifest.

How a maintainer ships pretrained models -- aezoo's own (``weights/`` → ``aezoo/pretrained.json``) and
a plugin's (``weights/`` → ``<package>/pretrained.json``, shipped inside the plugin's wheel). For each
bundle (a folder with ``model.safetensors``, ``config.json`` and ``metrics.json``):

1. its manifest entry is computed: sha256 of the weights, architecture, config, preprocessing,
   dataset and metrics;
2. if the manifest already pins a commit for exactly that entry and the Hub holds those weights at
   that commit, nothing is done (re-running a release on unchanged bundles changes nothing);
3. otherwise the bundle is published to ``ORG/NAME`` in one commit with its model card
   (:func:`aezoo.hub.upload.publish`) and the returned commit is pinned.

The manifest is written atomically once, at the end (and after each bundle, so an interrupted
release keeps what it published). Every bundle is checked first (:func:`~aezoo.hub.upload.publishable_files`:
no symlink, FIFO or device among the files it publishes), so a bad one stops the release before
anything is uploaded. Each bundle's publish has one deadline (``timeout=``, ``--timeout``,
``$AEZOO_HUB_TIMEOUT``); a commit the Hub did not confirm in time is an error, and no pin is written for it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.config import dumps_json, read_json
from ..core.errors import HubError, WeightsError
from ..io.cards import dataset_of
from ..io.serialization import CONFIG_NAME, WEIGHTS_NAME, atomic_write, read_config, sha256_file
from .transport import COMMIT_RE, remote_etag
from .upload import publish, publishable_files

__all__ = ["DEFAULT_ORG", "Released", "bundle_entry", "release"]

DEFAULT_ORG = "aezoo"


@dataclasses.dataclass(frozen=True)
class Released:
    """What ``release`` did with one bundle."""

    name: str
    repo_id: str
    revision: str
    status: str  # "published" or "unchanged"


def bundle_entry(bundle: Path, *, org: str, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest entry (without revision) for the bundle in ``bundle``."""
    config = read_config(bundle)
    metrics_path = bundle / "metrics.json"
    if not metrics_path.is_file():
        raise WeightsError(f"{metrics_path} not found: a bundle carries its test metrics (`aezoo bundle` writes them)")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{metrics_path} is not valid JSON ({e})") from None
    if not isinstance(metrics, dict):
        raise WeightsError(f"{metrics_path} must hold a JSON object of metric -> number")
    previous = previous or {}
    return {
        "architecture": config["architecture"],
        "config": config["config"],
        "dataset": dataset_of(config).split("/")[0],
        "description": str(previous.get("description") or config.get("description") or ""),
        "metrics": {k: float(v) for k, v in sorted(metrics.items()) if isinstance(v, (int, float))},
        "preprocessing": config.get("preprocessing") or {},
        "repo_id": f"{org}/{bundle.name}",
        "sha256": sha256_file(bundle / WEIGHTS_NAME),
    }


def _on_hub(entry: Mapping[str, Any], revision: str, token: str | None, timeout: float | None) -> bool:
    """Whether the Hub still holds ``entry``'s weights at ``revision`` (one HEAD, nothing downloaded)."""
    return remote_etag(entry["repo_id"], revision, WEIGHTS_NAME, token=token, timeout=timeout) == entry["sha256"]


def release(
    weights_dir: str | Path,
    manifest: str | Path,
    *,
    org: str = DEFAULT_ORG,
    package: str | None = None,
    names: list[str] | None = None,
    token: str | None = None,
    echo: Callable[[str], None] = print,
    distribution: Callable[[str], str] | None = None,
    timeout: float | None = None,
) -> list[Released]:
    """Publish each bundle in ``weights_dir`` to ``ORG/NAME`` and pin its commit in ``manifest``.

    ``package`` is the distribution users ``pip install`` to load these models (named in each card;
    default: ``distribution(architecture)``, which ``aezoo release`` sets to the distribution that
    registers each bundle's architecture, else ``aezoo``).
    ``names`` limits the release to those bundles. ``timeout`` bounds each bundle's publish (default
    ``$AEZOO_HUB_TIMEOUT`` or 30 s). Returns what happened to each bundle.

    >>> release("weights", "aezoo/pretrained.json", org="aezoo")  # doctest: +SKIP
    """
    weights_dir, manifest = Path(weights_dir), Path(manifest)
    if not weights_dir.is_dir():
        raise WeightsError(f"{weights_dir} is not a folder of bundles (weights/NAME/model.safetensors)")
    fix = "restore it from version control"
    old = read_json(manifest, error=WeightsError, fix=fix, allow_nan=True) if manifest.is_file() else {}
    if not isinstance(old, dict) or not all(isinstance(entry, dict) for entry in old.values()):
        raise WeightsError(f"{manifest} is not a manifest (a JSON object of NAME -> entry object); {fix}")
    bundles = sorted(p for p in weights_dir.iterdir() if (p / WEIGHTS_NAME).is_file() and (p / CONFIG_NAME).is_file())
    if names:
        unknown = sorted(set(names) - {p.name for p in bundles})
        if unknown:
            raise WeightsError(f"no bundle {unknown} in {weights_dir}; bundles: {[p.name for p in bundles]}")
        bundles = [p for p in bundles if p.name in names]
    if not bundles:
        raise WeightsError(f"{weights_dir} holds no bundle (NAME/model.safetensors + config.json)")
    for bundle in bundles:  # every bundle, before anything is uploaded
        publishable_files(bundle)
    entries = dict(old)
    done = []
    for bundle in bundles:
        name = bundle.name
        previous = old.get(name) or {}
        entry = bundle_entry(bundle, org=org, previous=previous)
        revision = previous.get("revision")
        same = {k: v for k, v in previous.items() if k != "revision"} == entry
        if (
            same
            and isinstance(revision, str)
            and COMMIT_RE.match(revision)
            and _on_hub(entry, revision, token, timeout)
        ):
            done.append(Released(name, entry["repo_id"], revision, "unchanged"))
        else:
            try:
                revision = publish(
                    bundle,
                    entry["repo_id"],
                    token=token,
                    commit_message=f"Release {name} with aezoo",
                    metrics=entry["metrics"],
                    dataset=entry["dataset"] or None,
                    package=package or (distribution(entry["architecture"]) if distribution else None),
                    timeout=timeout,
                )
            except HubError as e:
                raise HubError(
                    f"release stopped at {name}: {e} (the bundles before it are pinned in {manifest})"
                ) from None
            done.append(Released(name, entry["repo_id"], revision, "published"))
        entries[name] = {**entry, "revision": revision}
        with atomic_write(manifest, "w") as f:
            f.write(dumps_json(dict(sorted(entries.items()))))
        echo(f"{done[-1].status:9}  {name}  hf-hub:{done[-1].repo_id}@{revision}")
    return done
