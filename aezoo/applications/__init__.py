"""What autoencoders are used for: anomaly detection, features, denoising, generation, and more.

Owns the anomaly detector with its scores and ROC AUC (:mod:`~aezoo.applications.anomaly`; its file
format is :mod:`aezoo.io.detector`'s), drift detection on codes (:mod:`~aezoo.applications.drift`,
its two-sample tests in :mod:`~aezoo.applications.two_sample`; its files are :mod:`aezoo.io.drift`'s),
codes and reconstructions as features (:mod:`~aezoo.applications.features`), denoising
(:mod:`~aezoo.applications.denoising`), generation (:mod:`~aezoo.applications.generation`),
interpolation (:mod:`~aezoo.applications.interpolation`), export to ONNX / TorchScript /
ExportedProgram (:mod:`~aezoo.applications.export`; a whole detector:
:mod:`~aezoo.applications.detector_export`) and the scikit-learn estimator
(:mod:`~aezoo.applications.sklearn`, an optional extra this package never imports). Features, the
detectors, denoising, generation and interpolation run a model one way (eval mode without
gradients, model-space inputs, in batches: the private :mod:`~aezoo.applications._batches`). May
import every package up to :mod:`aezoo.training`.
"""

from .anomaly import SCORES, AnomalyDetector, error_maps, reconstruction_errors, roc_auc
from .denoising import add_noise, denoise, psnr
from .drift import DriftDetector, DriftResult
from .features import extract_features, reduce
from .generation import generate, generative_architectures

__all__ = [
    "SCORES",
    "AnomalyDetector",
    "DriftDetector",
    "DriftResult",
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
