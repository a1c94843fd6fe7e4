"""The Hugging Face Hub: a model folder's files moved both ways, pinned, verified and within one deadline.

Owns the pull side (:mod:`~aezoo.hub.transport`, through ``hf_hub_download``; the deadline in
:mod:`~aezoo.hub.deadline`), where a pretrained entry's files come from and whether they are the
pinned ones (:mod:`~aezoo.hub.pins`), the upload of a folder in one commit with its card
(:mod:`~aezoo.hub.upload`), the Hub methods every model inherits (:class:`HubMixin`:
``save_pretrained``, ``from_pretrained`` strictly into the class, ``push_to_hub``) and the release of a
project's bundled weights with the manifest that pins them (:mod:`~aezoo.hub.release`).

It knows files, repos and pins, never the registry or a model class: it imports only
:mod:`aezoo.core`, :mod:`aezoo.io` and :mod:`aezoo.data`, and :mod:`aezoo.models` builds on it.
"""

from .deadline import DEFAULT_TIMEOUT, TIMEOUT_ENV, Deadline, hub_timeout
from .mixin import LOCAL_DIR_PREFIX, HubMixin, load_entry, load_folder
from .transport import COMMIT_RE, HF_HUB_PREFIX, fetch_model_files, parse_repo_spec, pull, remote_etag
from .upload import publish

__all__ = [
    "COMMIT_RE",
    "DEFAULT_TIMEOUT",
    "HF_HUB_PREFIX",
    "LOCAL_DIR_PREFIX",
    "TIMEOUT_ENV",
    "Deadline",
    "HubMixin",
    "fetch_model_files",
    "hub_timeout",
    "load_entry",
    "load_folder",
    "parse_repo_spec",
    "publish",
    "pull",
    "remote_etag",
]
