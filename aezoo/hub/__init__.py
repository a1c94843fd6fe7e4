"""The Hugging Face Hub: moving a model folder's files, pinned and within one deadline, both ways.

Owns the transport (:mod:`~aezoo.hub.transport`: pull and publish through ``huggingface_hub``,
one deadline, verified before use) and the release of a project's bundled weights with the
manifest that pins them (:mod:`~aezoo.hub.release`).
"""

from .transport import (
    DEFAULT_TIMEOUT,
    TIMEOUT_ENV,
    Deadline,
    fetch_model_files,
    hub_timeout,
    parse_repo_spec,
    publish,
    pull,
    remote_etag,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "Deadline",
    "fetch_model_files",
    "hub_timeout",
    "parse_repo_spec",
    "publish",
    "pull",
    "remote_etag",
]
