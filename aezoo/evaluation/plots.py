"""Pictures: loss curves, reconstruction grids, latent maps, samples and denoising rows.

Every function draws with matplotlib's Agg backend (no display needed) or torchvision's
``make_grid``, writes a PNG atomically and returns its path. What a model can draw is decided
by the capabilities its class declares (``capabilities.sample``), never by its class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from ..core.errors import InputError
from ..io.serialization import atomic_write
from .metrics import model_inputs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..data import Dataset
    from ..models.base import Autoencoder

__all__ = ["denoising_grid", "error_heatmap", "latent_map", "loss_curve", "reconstruction_grid", "sample_grid"]


# ----------------------------------------------------------------------------- helpers
def _figure(**kwargs: Any) -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=True)  # never open a window, even where a display exists
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    path.chmod(0o644)  # the temporary file was private
    return path


def _save_tensor_grid(rows: Sequence[Tensor], path: str | Path, ncol: int) -> Path:
    """Stack image rows (each ``(n, C, H, W)`` in [0, 1]) into one grid PNG."""
    from torchvision.utils import make_grid, save_image

    images = torch.cat([r.detach().float().cpu() for r in rows])
    grid = make_grid(images, nrow=ncol, padding=2, pad_value=1.0)
    path = Path(path)
    with atomic_write(path) as f:
        save_image(grid, f, format="png")
    path.chmod(0o644)  # the temporary file was private
    return path


def _labelled_grid(rows: Sequence[Tensor], labels: Sequence[str], title: str, path: str | Path) -> Path:
    """Image rows as one PNG, each row type a band with its label on the left (``original``, ...)."""
    from torchvision.utils import make_grid

    n = rows[0].shape[0]
    ncol = min(n, 16)
    grids = [make_grid(r.detach().float().cpu().clamp(0.0, 1.0), nrow=ncol, padding=2, pad_value=1.0) for r in rows]
    height = sum(g.shape[1] for g in grids)
    width = grids[0].shape[2]
    scale = 1 / 40  # inches per pixel: a 28-pixel digit is 0.7 inch
    fig = _figure(figsize=(1.4 + width * scale, 0.5 + height * scale * 1.08))
    axes = fig.subplots(len(grids), 1, gridspec_kw={"height_ratios": [g.shape[1] for g in grids]}, squeeze=False)
    for ax, grid, label in zip(axes[:, 0], grids, labels, strict=True):
        image = grid.permute(1, 2, 0).numpy()
        ax.imshow(image[..., 0] if image.shape[2] == 1 or grid.shape[0] == 1 else image, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
        for side in ax.spines.values():
            side.set_visible(False)
    fig.suptitle(title, fontsize=11)
    return _save_figure(fig, path)


def _is_image(shape: Sequence[int]) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3)


def _to_display(model: Autoencoder, x: Tensor) -> Tensor:
    """Model-space tensor -> ``raw * scale`` (mean/std undone; [0, 1] for images, clamped when drawn).

    ``invert`` alone would give 8-bit images back as 0-255; the scale brings them to [0, 1].
    """
    return model.preprocessing.invert(x.detach().float()) * model.preprocessing.scale


def _as_float_list(values: Any) -> list[float] | None:
    """A per-epoch series as floats, or ``None`` when ``values`` is not one."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().flatten().tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        return None
    out = []
    for v in values:
        if isinstance(v, Tensor) and v.numel() == 1:
            v = v.item()
        if v is None:
            v = math.nan
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        out.append(float(v))
    return out


def _history_mapping(history: Any) -> Mapping[str, Any]:
    if isinstance(history, Mapping):
        return history
    for attr in ("to_dict", "as_dict"):
        if callable(getattr(history, attr, None)):
            return getattr(history, attr)()
    import dataclasses

    if dataclasses.is_dataclass(history) and not isinstance(history, type):
        return dataclasses.asdict(history)
    if isinstance(history, Sequence) and all(isinstance(h, Mapping) for h in history):
        return _transpose(history)
    return vars(history)


def _transpose(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A list of per-epoch records -> per-epoch lists (nested one level for train/val)."""
    out: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, Mapping):
                group = out.setdefault(key, {})
                for k, v in value.items():
                    group.setdefault(k, []).append(v)
            else:
                out.setdefault(key, []).append(value)
    return out


def _loss_series(history: Any) -> dict[str, dict[str, list[float]]]:
    """``{metric: {split: values}}`` for every numeric per-epoch series in a history."""
    h = _history_mapping(history)
    series: dict[str, dict[str, list[float]]] = {}
    groups = {k: v for k, v in h.items() if k in ("train", "val", "validation", "test")}
    if isinstance(groups.get("train"), Sequence) or isinstance(groups.get("val"), Sequence):
        groups = {k: _transpose(v) if isinstance(v, Sequence) else v for k, v in groups.items()}
    for split, group in groups.items():
        if isinstance(group, Mapping):
            for name, values in group.items():
                if (vals := _as_float_list(values)) is not None:
                    series.setdefault(str(name), {})[split] = vals
        elif (vals := _as_float_list(group)) is not None:  # "train": [losses]
            series.setdefault("loss", {})[split] = vals
    if not series:  # flat histories: {"train_loss": [...], "val_loss": [...]}
        for key, values in h.items():
            if key in ("epoch", "epochs", "step", "time", "lr") or (vals := _as_float_list(values)) is None:
                continue
            split, _, name = str(key).partition("_")
            if split in ("train", "val") and name:
                series.setdefault(name, {})[split] = vals
            else:
                series.setdefault(str(key), {})["train"] = vals
    return series


# ----------------------------------------------------------------------------- loss curves
def loss_curve(history: Any, path: str | Path) -> Path:
    """Plot every numeric per-epoch series under ``history["train"]``/``history["val"]``.

    One panel per term (``loss``, ``reconstruction``, ``kl`` ...), train and validation in the
    same panel; log-scale y when every value is positive. ``history`` is the trainer's history
    (a mapping, a dataclass with ``to_dict``, or a list of per-epoch records).

    >>> import tempfile, os
    >>> h = {"epoch": [1, 2, 3], "train": {"loss": [0.3, 0.2, 0.1]}, "val": {"loss": [0.35, 0.25, 0.2]}}
    >>> p = loss_curve(h, os.path.join(tempfile.mkdtemp(), "loss.png"))
    >>> p.stat().st_size > 0
    True
    """
    from matplotlib.ticker import MaxNLocator

    h = _history_mapping(history)
    series = _loss_series(h)
    if not series:
        raise InputError(
            f"no per-epoch numeric series found in the history (keys: {sorted(map(str, h))!r}); "
            "expected e.g. {'train': {'loss': [...]}, 'val': {'loss': [...]}}"
        )
    epochs = _as_float_list(h.get("epoch", h.get("epochs")))
    ncols = min(3, len(series))
    nrows = -(-len(series) // ncols)
    fig = _figure(figsize=(4.2 * ncols, 3.2 * nrows))
    for i, (name, by_split) in enumerate(sorted(series.items(), key=lambda kv: (kv[0] != "loss", kv[0]))):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        positive = True
        for split, values in by_split.items():
            xs = epochs if epochs is not None and len(epochs) == len(values) else list(range(1, len(values) + 1))
            ax.plot(xs, values, marker="o" if len(values) < 30 else None, markersize=3, label=split)
            finite = [v for v in values if math.isfinite(v)]
            positive = positive and bool(finite) and min(finite) > 0
        if positive:
            ax.set_yscale("log")
            _plain_log_ticks(ax, [v for vals in by_split.values() for v in vals if math.isfinite(v)])
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name + (" (log scale)" if positive else ""))
        n_epochs = max(len(v) for v in by_split.values())
        if epochs is None and n_epochs <= 12:  # short runs: one tick per epoch, never 0.5 or 1.5
            ax.set_xticks(range(1, n_epochs + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    return _save_figure(fig, path)


def _plain_log_ticks(ax: Any, values: Sequence[float]) -> None:
    """Tick labels like 0.02 and 0.05 on a log axis, not 2x10^-2 (minor ones too when the range is short)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_formatter(plain)
    short = bool(values) and max(values) / min(values) < 30  # under ~1.5 decades: few major ticks
    ax.yaxis.set_minor_formatter(plain if short else NullFormatter())
    if short:
        ax.tick_params(axis="y", which="minor", labelsize=7)


# ----------------------------------------------------------------------------- model pictures
class _EvalMode:
    """``model.eval()`` and ``torch.no_grad()`` for the block; restores the training flag after."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.was_training = model.training
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def _inputs(model: Autoencoder, x: Tensor | Dataset, n: int | None = None) -> Tensor:
    """The first ``n`` samples in model space (a dataset is checked and mapped there)."""
    if not isinstance(x, Tensor):
        x = model_inputs(model, x.subset(n) if n is not None else x)
    return x[:n] if n is not None else x


def _image_rows(
    rows: Sequence[Tensor], path: str | Path, labels: Sequence[str], title: str, *, labelled: bool = False
) -> Path:
    """Rows of samples (model space, already displayable) as one PNG: a grid for images,
    heatmaps (one panel per row) for feature vectors."""
    shape = tuple(rows[0].shape[1:])
    if len(shape) == 2:  # (H, W) images without a channel axis
        rows = [r.unsqueeze(1) for r in rows]
        shape = (1, *shape)
    if _is_image(shape) and labelled:  # one band per row type, its label on the left
        return _labelled_grid(rows, labels, title, path)
    if _is_image(shape):  # a plain grid (e.g. interpolation paths: the picture is its own legend)
        n = rows[0].shape[0]
        ncol = min(n, 16)
        pad = -n % ncol  # keep every row type starting on a new line
        blank = torch.ones(pad, *shape)
        return _save_tensor_grid([torch.cat([r.cpu().clamp(0.0, 1.0), blank]) for r in rows], path, ncol)
    flat = [r.detach().float().cpu().flatten(1) for r in rows]
    lo = min(float(f.min()) for f in flat)
    hi = max(float(f.max()) for f in flat)
    fig = _figure(figsize=(8, 1.2 + 1.6 * len(flat)))
    for i, (f, label) in enumerate(zip(flat, labels, strict=True)):
        ax = fig.add_subplot(len(flat), 1, i + 1)
        im = ax.imshow(f.numpy(), aspect="auto", interpolation="nearest", cmap="viridis", vmin=lo, vmax=hi)
        ax.set_ylabel(label)
        ax.set_xlabel("feature" if i == len(flat) - 1 else "")
        fig.colorbar(im, ax=ax)
    fig.suptitle(title)
    return _save_figure(fig, path)


def reconstruction_grid(model: Autoencoder, x: Tensor | Dataset, path: str | Path, n: int = 16) -> Path:
    """Draw the first ``n`` inputs (top) above their reconstructions (bottom).

    ``x`` is a batch in model space, or a :class:`~aezoo.data.DeviceDataset` (mapped to the
    model's space when preprocessed differently). Both are mapped
    back with ``model.preprocessing.invert`` (times its ``scale``, so 8-bit images land in
    [0, 1]) and clamped to [0, 1]. Feature vectors (inputs
    that are not images) are drawn as two heatmaps instead.

    >>> import aezoo, tempfile, os
    >>> model = aezoo.create("linear")
    >>> p = reconstruction_grid(model, torch.rand(8, 1, 28, 28), os.path.join(tempfile.mkdtemp(), "r.png"), n=8)
    >>> p.name
    'r.png'
    """
    x = _inputs(model, x, n).to(model.device)
    with _EvalMode(model):
        recon = model(x).reconstruction
    rows = [_to_display(model, x), _to_display(model, recon)]
    return _image_rows(
        rows, path, ["original", "reconstruction"], f"{model.architecture}: reconstructions", labelled=True
    )


def sample_grid(model: Autoencoder, path: str | Path, n: int = 64, *, generator: torch.Generator | None = None) -> Path:
    """Draw ``n`` samples of a generative model (``capabilities.sample``, e.g. the VAE), from ``generator``."""
    if not type(model).capabilities.sample:
        raise InputError(
            f"{type(model).__name__} ({model.architecture!r}) cannot sample (its capabilities.sample is False); "
            "sample_grid needs a generative model such as 'vae' or 'aae'"
        )
    with _EvalMode(model):
        samples = cast(Any, model).sample(n, generator=generator)
    return _image_rows([_to_display(model, samples)], path, ["sample"], f"{model.architecture}: samples", labelled=True)


def denoising_grid(
    model: Autoencoder,
    x: Tensor | Dataset,
    path: str | Path,
    n: int = 8,
    *,
    generator: torch.Generator | None = None,
) -> Path:
    """Draw clean inputs, their corruptions (``model.corrupt(x, generator)``) and the model's denoising."""
    if not type(model).capabilities.corrupt:
        raise InputError(
            f"{type(model).__name__} ({model.architecture!r}) has no noise of its own (its capabilities.corrupt "
            "is False); denoising_grid needs a denoising model such as 'denoising'"
        )
    x = _inputs(model, x, n).to(model.device)
    with _EvalMode(model):
        noisy = cast(Any, model).corrupt(x, generator=generator)
        denoised = model(noisy).reconstruction
    rows = [_to_display(model, r) for r in (x, noisy, denoised)]
    return _image_rows(
        rows, path, ["clean", "corrupted", "denoised"], f"{model.architecture}: denoising", labelled=True
    )


def error_heatmap(
    model: Autoencoder,
    x: Tensor | Dataset,
    errors: Tensor,
    path: str | Path,
    *,
    scores: Tensor | None = None,
    flagged: Tensor | None = None,
    n: int = 8,
) -> Path:
    """Draw where the model fails to reconstruct: inputs, reconstructions and per-pixel error maps.

    ``errors`` are per-feature errors shaped like the inputs (``AnomalyDetector.error_map`` or
    :func:`aezoo.applications.anomaly.error_maps`); the first ``n`` samples are drawn. Images give three
    rows (input, reconstruction, error heat-map on one colour scale, channels summed); feature
    vectors (tabular data) give three heat-maps, samples by features. ``scores`` label each
    sample, and ``flagged`` (booleans) marks the anomalous ones in red.

    >>> import aezoo, tempfile, os
    >>> from aezoo.applications.anomaly import error_maps
    >>> model, x = aezoo.create("linear"), torch.rand(4, 1, 28, 28)
    >>> error_heatmap(model, x, error_maps(model, x), os.path.join(tempfile.mkdtemp(), "e.png")).name
    'e.png'
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    x = _inputs(model, x, n).to(model.device)
    errors = torch.as_tensor(errors).detach()[: len(x)].float().cpu()
    if errors.shape != x.shape:
        raise InputError(
            f"errors must have the inputs' shape {tuple(x.shape)} (one per feature of each drawn sample), "
            f"got {tuple(errors.shape)}; compute them with detector.error_map(x)"
        )
    if len(x) == 0:
        raise InputError("nothing to draw: the inputs are empty")
    with _EvalMode(model):
        recon = model(x).reconstruction
    shown = [_to_display(model, x).cpu(), _to_display(model, recon).cpu()]
    labels = [
        f"{float(scores[i]):.3g}" + (" !" if flagged is not None and bool(flagged[i]) else "")
        if scores is not None
        else ""
        for i in range(len(x))
    ]
    red = [flagged is not None and bool(flagged[i]) for i in range(len(x))]
    shape = tuple(x.shape[1:])
    if _is_image(shape) or len(shape) == 2:
        return _image_heatmap(shown, errors, labels, red, path, model.architecture)
    return _feature_heatmap(shown, errors, labels, path, model.architecture)


def _image_heatmap(
    shown: Sequence[Tensor], errors: Tensor, labels: Sequence[str], red: Sequence[bool], path: str | Path, arch: str
) -> Path:
    n = len(errors)
    emap = errors.reshape(n, -1, *errors.shape[-2:]).sum(1)  # channels summed: (n, H, W)
    vmax = max(float(emap.max()), 1e-12)
    fig = _figure(figsize=(1.6 * n + 1.2, 5.2))
    grid = fig.add_gridspec(3, n + 1, width_ratios=[1] * n + [0.08])
    for i in range(n):
        for row, (img, cmap) in enumerate(((shown[0][i], "gray"), (shown[1][i], "gray"), (emap[i], "inferno"))):
            ax = fig.add_subplot(grid[row, i])
            if row < 2:
                pic = img.clamp(0.0, 1.0)
                pic = pic.permute(1, 2, 0) if pic.dim() == 3 and pic.shape[0] == 3 else pic.reshape(pic.shape[-2:])
                im = ax.imshow(pic.numpy(), cmap=cmap, vmin=0.0, vmax=1.0)
            else:
                im = ax.imshow(img.numpy(), cmap=cmap, vmin=0.0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and labels[i]:
                ax.set_title(labels[i], fontsize=8, color="red" if red[i] else "black")
            if i == 0:
                ax.set_ylabel(("input", "reconstruction", "error")[row], fontsize=8)
        if i == n - 1:
            fig.colorbar(im, cax=fig.add_subplot(grid[2, n]))
    fig.suptitle(f"{arch}: reconstruction error per pixel" + (" (title: score, ! = anomalous)" if any(labels) else ""))
    return _save_figure(fig, path)


def _feature_heatmap(
    shown: Sequence[Tensor], errors: Tensor, labels: Sequence[str], path: str | Path, arch: str
) -> Path:
    flat = [t.detach().float().flatten(1) for t in (*shown, errors)]
    lo, hi = min(float(f.min()) for f in flat[:2]), max(float(f.max()) for f in flat[:2])
    fig = _figure(figsize=(8, 1.5 + 0.25 * len(errors) * 3 + 1.5))
    for i, (f, name) in enumerate(zip(flat, ("input", "reconstruction", "error"), strict=True)):
        ax = fig.add_subplot(3, 1, i + 1)
        cmap, vmin, vmax = ("inferno", 0.0, max(float(f.max()), 1e-12)) if i == 2 else ("viridis", lo, hi)
        im = ax.imshow(f.numpy(), aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_ylabel(name)
        ax.set_yticks(range(len(f)), labels if any(labels) else [str(j) for j in range(len(f))], fontsize=7)
        ax.set_xlabel("feature" if i == 2 else "")
        fig.colorbar(im, ax=ax)
    fig.suptitle(
        f"{arch}: reconstruction error per feature (rows: samples" + (", labelled by score)" if any(labels) else ")")
    )
    return _save_figure(fig, path)


def _encode_all(model: Autoencoder, x: Tensor, batch_size: int = 1000) -> Tensor:
    with _EvalMode(model):
        codes = [model.encode(x[i : i + batch_size].to(model.device)) for i in range(0, len(x), batch_size)]
    return torch.cat(codes).float()


def latent_map(model: Autoencoder, dataset: Dataset | Tensor, path: str | Path, *, max_points: int = 5000) -> Path:
    """Scatter the codes of (up to ``max_points``) samples, coloured by label when there are labels.

    Codes with more than two dimensions are projected on their first two principal components
    (``torch.pca_lowrank``), as the title says; 1-D codes are drawn against the label.
    """
    x = _inputs(model, dataset, max_points)
    y = getattr(dataset, "y", None)
    y = y[:max_points].cpu() if y is not None else None
    z = _encode_all(model, x).cpu()
    d = z.shape[1]
    if d > 2:
        mean = z.mean(0, keepdim=True)
        _, _, v = torch.pca_lowrank(z - mean, q=2, center=False)
        z2 = (z - mean) @ v[:, :2]
        title, xl, yl = f"{model.architecture}: {d}-D codes, PCA projection", "PC 1", "PC 2"
    elif d == 2:
        z2, title, xl, yl = z, f"{model.architecture}: 2-D codes", "z[0]", "z[1]"
    else:
        other = y.float() + 0.3 * (torch.rand(len(z)) - 0.5) if y is not None else torch.zeros(len(z))
        z2 = torch.stack([z[:, 0], other], 1)
        title, xl, yl = f"{model.architecture}: 1-D codes", "z[0]", "label" if y is not None else ""
    fig = _figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    pts = z2.numpy()
    if y is not None:
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=y.numpy(), cmap="tab10", s=4, alpha=0.7)
        labels = sorted(set(y.tolist()))
        if len(labels) <= 20:
            ax.legend(*sc.legend_elements(num=labels), title="label", loc="best", fontsize=7, markerscale=0.8)
        else:
            fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.7)
    ax.set_title(title)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    return _save_figure(fig, path)
