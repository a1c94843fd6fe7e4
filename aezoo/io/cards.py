"""Model cards: the ``README.md`` of a published model, with Hub metadata in its YAML header.

Built with ``huggingface_hub.ModelCard``/``ModelCardData`` so the Hub indexes it: ``library_name:
aezoo``, the ``pipeline_tag`` (``image-feature-extraction`` for images, ``feature-extraction`` for
features), license, tags, datasets, ``base_model`` for a model trained further from another one
(``training.base_model`` of its ``config.json``, with ``base_model_relation: finetune``) and the
metrics as ``model-index`` (``eval_results``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .detector import DETECTOR_NAME

if TYPE_CHECKING:
    from huggingface_hub import ModelCard, ModelCardData

__all__ = ["FIGURE_SUFFIXES", "base_model_of", "build_card", "card_metrics", "dataset_of", "hub_dataset_id"]

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
_TASK = "feature-extraction"  # the Hub task closest to "learn a representation and reconstruct"
_PROBE_TASK = "image-classification"  # a linear classifier on the codes (aezoo.evaluation.probe)
# The Hub's pipeline tags (its task list) for what an autoencoder's codes are: features of images or of rows.
IMAGE_PIPELINE_TAG = "image-feature-extraction"
PIPELINE_TAG = "feature-extraction"
PROBE_METRICS = ("probe_accuracy", "pca_probe_accuracy")


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``config[key]`` if it is a mapping, else an empty one."""
    value = config.get(key)
    return value if isinstance(value, Mapping) else {}


def dataset_of(config: Mapping[str, Any]) -> str:
    """The dataset a model directory's ``config.json`` says it was trained on ("" if unknown)."""
    for value in (
        config.get("dataset"),
        _section(config, "training").get("dataset"),
        _section(config, "data").get("name"),
    ):
        if value:
            return str(value)
    return ""


def hub_dataset_id(dataset: str) -> str | None:
    """The dataset as the card's ``datasets`` names it: a Hub id for ``hf:OWNER/NAME``, None for a local folder.

    >>> hub_dataset_id("mnist"), hub_dataset_id("hf:ylecun/mnist@main"), hub_dataset_id("hf:/data/mine")
    ('mnist', 'ylecun/mnist', None)
    """
    if not dataset.startswith("hf:"):
        return dataset or None
    source = dataset[len("hf:") :].split("?")[0]
    if source.startswith(("/", ".", "~")) or "\\" in source:
        return None
    return source.split("@")[0] or None


def base_model_of(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a model directory's ``config.json`` says it was trained further from (``{}`` if from scratch)."""
    return _section(_section(config, "training"), "base_model")


def build_card(
    config: Mapping[str, Any],
    *,
    repo_id: str,
    metrics: Mapping[str, float] | None = None,
    files: Iterable[str] = (),
    sha256: str | None = None,
    license: str = "mit",
    dataset: str | None = None,
    package: str = "aezoo",
) -> ModelCard:
    """The model card for a model directory's ``config.json`` published as ``repo_id``.

    ``files`` are the file names that will sit next to the card (figures among them are shown);
    ``package`` is the distribution to ``pip install`` for the architecture (a plugin's, or aezoo).
    Absolute local paths (of the machine that trained the model) are left out of the card.

    >>> card = build_card({"architecture": "linear", "config": {"latent_dim": 2}}, repo_id="me/lin",
    ...                   metrics={"mse": 0.02}, dataset="mnist")
    >>> card.data.library_name, card_metrics(card)
    ('aezoo', {'mse': 0.02})
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    arch = str(config.get("architecture", "unknown"))
    dataset = dataset if dataset is not None else dataset_of(config)
    hub_dataset = hub_dataset_id(dataset)
    input_shape = _section(config, "config").get("input_shape")
    base = base_model_of(config)
    # base_model_relation is not a ModelCardData parameter: it travels in its **kwargs, as the Hub reads it
    base_fields: dict[str, Any] = (
        {"base_model": str(base["repo_id"]), "base_model_relation": "finetune"} if base.get("repo_id") else {}
    )
    metrics = {k: float(v) for k, v in sorted((metrics or {}).items())}
    eval_results = [
        EvalResult(
            task_type=_PROBE_TASK if k in PROBE_METRICS else _TASK,
            task_name="Linear probe" if k in PROBE_METRICS else "Reconstruction",
            dataset_type=hub_dataset or "custom",
            dataset_name=hub_dataset or "custom",
            dataset_split="test",
            metric_type=k,
            metric_name=k,
            metric_value=v,
        )
        for k, v in metrics.items()
    ]
    data = ModelCardData(
        library_name="aezoo",
        pipeline_tag=IMAGE_PIPELINE_TAG
        if isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
        else PIPELINE_TAG,
        license=license,
        tags=[t for t in ("autoencoder", "aezoo", arch, hub_dataset) if t],
        datasets=[hub_dataset] if hub_dataset else None,
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
        **base_fields,
    )
    body = _body(
        config,
        repo_id=repo_id,
        arch=arch,
        dataset=dataset,
        metrics=metrics,
        files=sorted(set(files)),
        sha256=sha256,
        package=package,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{_ABSOLUTE.sub(_relative, body)}")


# A POSIX or Windows absolute path inside the card's text: /home/me/runs/x, C:\\data\\mnist.
_ABSOLUTE = re.compile(r"(?<![\w.:/])(?:/(?:[\w.-]+/)+[\w.-]*|[A-Za-z]:\\(?:[\w.-]+\\)*[\w.-]*)")


def _relative(match: re.Match[str]) -> str:
    return "<path>/" + re.split(r"[/\\]", match.group(0).rstrip("/\\"))[-1]


def card_metrics(card: ModelCard) -> dict[str, float]:
    """The metrics a model card carries in its ``model-index``, by metric type."""
    results = cast("ModelCardData", card.data).eval_results or []  # a ModelCard's data is a ModelCardData
    return {str(r.metric_type): float(r.metric_value) for r in results}


def _body(
    config: Mapping[str, Any],
    *,
    repo_id: str,
    arch: str,
    dataset: str,
    metrics: Mapping[str, float],
    files: list[str],
    sha256: str | None,
    package: str,
) -> str:
    name = repo_id.split("/")[-1]
    lines = [
        f"# {name}",
        "",
        f"A `{arch}` autoencoder from [aezoo](https://github.com/aezoo/aezoo)"
        + (f", trained on `{dataset}`." if dataset else "."),
        "",
        *_base_lines(base_model_of(config)),
        "## Install",
        "",
        "```bash",
        f"pip install {package}" if package == "aezoo" else f"pip install {package}   # installs aezoo too",
        "```",
        "",
    ]
    lines += [
        "## Architecture and config",
        "",
        "```json",
        json.dumps(config.get("config", {}), indent=2, sort_keys=True),
        "```",
        "",
    ]
    lines += [
        "## Data and preprocessing",
        "",
        f"Dataset: `{dataset or 'not recorded'}`.",
        "",
        "Inputs are mapped with `model_input = (raw * scale - mean) / std`:",
        "",
        "```json",
        json.dumps(config.get("preprocessing") or {}, indent=2, sort_keys=True),
        "```",
        "",
    ]
    training = _section(config, "training")
    lines += ["## Training", ""]
    rows = [
        ("recipe", training.get("command") or training.get("recipe")),
        ("seed", training.get("seed")),
        ("epochs", training.get("epochs")),
        ("training time", _seconds(training.get("wall_time_s") or training.get("time_s"))),
        ("hardware", training.get("hardware") or training.get("device")),
    ]
    rows = [(k, v) for k, v in rows if v not in (None, "")]
    if rows:
        lines += [f"- {k}: `{v}`" for k, v in rows]
    else:
        lines.append("No training record was saved with this model.")
    reproduce = config.get("reproduce")
    if reproduce:
        lines += [
            "",
            "Reproduce this directory (from a checkout of aezoo, with MNIST in `../shared/data`"
            " or let torchvision download it without `--data-dir`):",
            "",
            "```bash",
            *reproduce,
            "```",
        ]
    lines.append("")
    lines += ["## Metrics", ""]
    if metrics:
        lines += ["| metric | value (test split) |", "|---|---|"] + [f"| {k} | {v:.6g} |" for k, v in metrics.items()]
        if any(k in metrics for k in PROBE_METRICS):
            lines += [
                "",
                "`probe_accuracy`: a linear classifier (logistic regression) trained on the codes of the training "
                "split, scored on the test split; `pca_probe_accuracy`: the same on as many principal components "
                "(`aezoo eval MODEL --probe`).",
            ]
    else:
        lines.append("No metrics were recorded.")
    lines.append("")
    figures = [f for f in files if f.lower().endswith(FIGURE_SUFFIXES)]
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    lines += [
        "## How to load",
        "",
        "```python",
        "import aezoo",
        "",
        # one space before each comment, as ruff formats the Python blocks of the repository's Markdown
        f'model = aezoo.load("hf-hub:{repo_id}")  # latest commit on main',
        f'model = aezoo.load("hf-hub:{repo_id}@REVISION")  # pinned: a commit hash printed by `aezoo publish`',
        "```",
        "",
        f"or `aezoo pull {repo_id}@REVISION` to fetch it into the Hugging Face cache.",
    ]
    if DETECTOR_NAME in files:  # written by AnomalyDetector.save(model_dir) / `aezoo detect --save-to-model`
        lines += [
            "",
            "## Anomaly detector",
            "",
            "`detector.json` holds an anomaly detector calibrated on this model (threshold, rule and the",
            "calibration scores behind its p-values):",
            "",
            "```python",
            f'detector = aezoo.AnomalyDetector.load("hf-hub:{repo_id}@REVISION")',
            "flags, p = detector.predict(x), detector.p_value(x)",
            "```",
        ]
    if sha256:
        lines += ["", f"sha256 of `model.safetensors`: `{sha256}` (aezoo checks it when a pretrained entry pins it)."]
    return "\n".join(lines) + "\n"


def _base_lines(base: Mapping[str, Any]) -> list[str]:
    """The card's account of the model this one was trained further from (nothing when from scratch)."""
    if not base:
        return []
    what = (
        f"[`{base['repo_id']}`](https://huggingface.co/{base['repo_id']})"
        if base.get("repo_id")
        else f"`{base.get('path', 'a local model')}`"
    )
    if base.get("name"):
        what += f" (pretrained `{base['name']}`)"
    details = [f"revision `{base['revision']}`" if base.get("revision") else "", f"sha256 `{base.get('sha256')}`"]
    details = [d for d in details if d and "None" not in d]
    tail = f", {', '.join(details)}" if details else ""
    return ["## Base model", "", f"Trained further from {what}{tail}.", ""]


def _seconds(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"
