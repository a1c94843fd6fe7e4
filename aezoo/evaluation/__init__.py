"""How good a model is: metrics on a test split, the linear probe of its codes, and pictures.

Owns the metrics (:mod:`~aezoo.evaluation.metrics`: reconstruction errors, PSNR, the importance-
sampled NLL), the linear probe beside PCA (:mod:`~aezoo.evaluation.probe`) and the figures
(:mod:`~aezoo.evaluation.plots`: reconstruction, sample and denoising grids, loss curves, latent
maps, error heat maps; matplotlib is imported when a figure is drawn). May import core, io, data,
models, registry, hub and loading; the trainer and the bundle use it.
"""

from .metrics import PSNR_MAX_DB, evaluate, format_table, model_inputs
from .probe import LinearProbe, linear_probe, pca_basis

__all__ = ["PSNR_MAX_DB", "LinearProbe", "evaluate", "format_table", "linear_probe", "model_inputs", "pca_basis"]
