"""What autoencoders are used for: anomaly detection, features, denoising, generation, and more.

Owns the anomaly detector with its scores and ROC AUC (:mod:`~aezoo.applications.anomaly`; its file
format is :mod:`aezoo.io.detector`'s), codes and reconstructions as features
(:mod:`~aezoo.applications.features`), denoising (:mod:`~aezoo.applications.denoising`), generation
(:mod:`~aezoo.applications.generation`), interpolation (:mod:`~aezoo.applications.interpolation`),
export to ONNX / TorchScript / ExportedProgram (:mod:`~aezoo.applications.export`) and the
scikit-learn estimator (:mod:`~aezoo.applications.sklearn`, an optional extra this package never
imports). Features, the detector, denoising, generation and interpolation run a model one way (eval
mode without gradients, model-space inputs, in batches: the private
:mod:`~aezoo.applications._batches`). May import every package up to :mod:`aezoo.training`.
"""

from .anomaly import SCORES, AnomalyDetector, error_maps, reconstruction_errors, roc_auc
from .denoising import add_noise, denoise, psnr
from .features import extract_features, reduce
from .generation import generate, generative_architectures

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
