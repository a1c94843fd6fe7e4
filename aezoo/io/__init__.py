"""What aezoo writes to disk and reads back, knowing no model class.

Owns the model-folder format (``config.json`` + ``model.safetensors``, atomic writes, the
safetensors header read before any weight: :mod:`~aezoo.io.serialization`), the pretrained entries
and manifests with their pins (:mod:`~aezoo.io.pretrained`, data only), the model card
(:mod:`~aezoo.io.cards`) and the anomaly detector's JSON file (:mod:`~aezoo.io.detector`).
May import :mod:`aezoo.core` only.
"""
