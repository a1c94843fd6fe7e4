"""What autoencoders are used for: anomaly detection, features, denoising, generation, and more.

Owns the anomaly detector (:mod:`~aezoo.applications.anomaly`), codes and reconstructions as
features, denoising and generation, interpolation (:mod:`~aezoo.applications.interpolation`),
export to ONNX / TorchScript / ExportedProgram (:mod:`~aezoo.applications.export`) and the scikit-learn estimator
(:mod:`~aezoo.applications.sklearn`, an optional extra this package never imports). May import
every package up to :mod:`aezoo.training`.
"""

from .anomaly import (
    SCORES,
    AnomalyDetector,
    add_noise,
    denoise,
    error_maps,
    extract_features,
    generate,
    generative_architectures,
    psnr,
    reconstruction_errors,
    reduce,
    roc_auc,
)

__all__ = [
    "SCORES",
    "AnomalyDetector",
    "add_noise",
    "denoise",
    "error_maps",
    "extract_features",
    "generate",
    "generative_architectures",
    "psnr",
    "reconstruction_errors",
    "reduce",
    "roc_auc",
]
