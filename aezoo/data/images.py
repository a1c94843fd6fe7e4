"""Your folder of images (PNG, JPEG, ...; all one size), loaded whole or streamed.

Images are read with Pillow as 8-bit grey or RGB (colour if any image has it) into
``(N, 1|3, H, W)`` uint8 pixels with ``scale=1/255``; images in subfolders get the index of their
subfolder (sorted names) as label. A folder larger than the memory budget (or ``stream=True``) is
decoded once, chunk by chunk, into a ``.npy`` in aezoo's cache (:mod:`aezoo.data.roots`), keyed by
the folder's listing, and streamed from there.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..core.errors import DataError
from ..io.serialization import atomic_write
from ._checks import one_line
from .base import Dataset
from .memory import _finish
from .preprocessing import Preprocessing
from .roots import CACHE_DIRNAME, cache_root
from .streaming import StreamedDataset, TensorFile, memory_budget

__all__ = ["IMAGE_SUFFIXES", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def load_image_folder(folder: Path, *, device: str | torch.device = "cpu", stream: bool | None = None) -> Dataset:
    """The images of ``folder`` as a dataset on ``device``: streamed when asked (or over the budget), else whole.

    >>> import numpy as np, tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp()); Image.fromarray(np.zeros((4, 6), np.uint8)).save(d / "a.png")
    >>> load_image_folder(d).shape
    (1, 4, 6)
    """
    files, color, (w, h), y = _scan_image_folder(folder)
    if stream or (stream is None and len(files) * (3 if color else 1) * h * w > memory_budget(device)):
        return _stream_image_folder(folder, files, color, (w, h), y, device=device)
    return _finish(torch.from_numpy(_decode_images(files, color)), y, name=folder.name, device=device)


def _scan_image_folder(folder: Path) -> tuple[list[Path], bool, tuple[int, int], Tensor | None]:
    """The images of a folder (sorted), whether any has colour, their one size, subfolder labels.

    Reads only each file's header, so it costs little memory whatever the folder's size.
    """
    from PIL import Image

    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    headers = []
    for p in files:
        try:
            with Image.open(p) as im:
                headers.append((p, im.mode, im.size))
        except Image.DecompressionBombError as e:
            raise _bomb(p, e) from None
        except Exception as e:  # a damaged file: Pillow raises OSError, but also SyntaxError, ValueError...
            raise DataError(f"cannot read image {p} ({one_line(e)}); remove or replace it") from None
    wide = [p for p, mode, _ in headers if mode in ("I", "I;16", "I;16B", "I;16L", "F")]
    if wide:
        raise DataError(f"{wide[0]} has 16/32-bit pixels; aezoo reads 8-bit images, convert them (e.g. to 8-bit PNG)")
    color = any(mode not in ("1", "L", "LA") for _, mode, _ in headers)
    size0 = headers[0][2]
    for p, _, size in headers:
        if size != size0:
            raise DataError(
                f"all images must have one size: {files[0]} is {size0[0]}x{size0[1]} but {p} is "
                f"{size[0]}x{size[1]}; resize them first"
            )
    rel = [p.relative_to(folder).parts for p in files]
    if all(len(parts) > 1 for parts in rel):  # class-per-subfolder layout
        classes = sorted({parts[0] for parts in rel})
        return files, color, size0, torch.tensor([classes.index(parts[0]) for parts in rel], dtype=torch.int64)
    return files, color, size0, None


def _decode_images(files: list[Path], color: bool) -> np.ndarray:
    """Decode ``files`` (as scanned) into one uint8 array ``(n, 1|3, H, W)``."""
    from PIL import Image

    arrays = []
    for p in files:
        try:
            with Image.open(p) as im:
                arrays.append(np.asarray(im.convert("RGB" if color else "L")))
        except Image.DecompressionBombError as e:
            raise _bomb(p, e) from None
        except Exception as e:  # a damaged file: Pillow raises OSError, but also SyntaxError, ValueError...
            raise DataError(f"cannot read image {p} ({one_line(e)}); remove or replace it") from None
    stacked = np.stack(arrays)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)) if color else stacked[:, None]


def _bomb(path: Path, e: Exception) -> DataError:
    """Pillow refuses an image whose header claims more pixels than its limit: say which file, and the limit."""
    from PIL import Image

    return DataError(
        f"{path} is too large to decode ({one_line(e)}): Pillow refuses images over twice "
        f"PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS!r} pixels, as a guard against decompression bombs. "
        "Remove or shrink the image; if you trust it, raise PIL.Image.MAX_IMAGE_PIXELS before loading"
    )


def _stream_image_folder(
    folder: Path,
    files: list[Path],
    color: bool,
    size: tuple[int, int],
    y: Tensor | None,
    *,
    device: str | torch.device,
) -> StreamedDataset:
    """Stream a folder of images: decoded once, in chunks, into a ``.npy`` in aezoo's cache.

    The file's name is keyed by the folder's path and every image's name, size and mtime, so a
    changed folder is packed again; packing holds one chunk of decoded images at a time.
    """
    shape = (len(files), 3 if color else 1, size[1], size[0])
    listing = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha256(json.dumps([str(folder.resolve()), color, listing]).encode()).hexdigest()[:16]
    target = cache_root()[0] / CACHE_DIRNAME / "folders" / f"{folder.name}-{key}.npy"
    try:
        source = TensorFile.open(target) if target.is_file() else None
    except DataError:
        source = None  # damaged: pack it again
    if source is None or source.shape != shape or source.dtype != torch.uint8:
        row = math.prod(shape[1:])
        step = max(1, min(64 << 20, memory_budget(device) // 4) // row)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for a in range(0, len(files), step):
                f.write(_decode_images(files[a : a + step], color).tobytes())
        source = TensorFile.open(target)
    labels = y.to(device) if y is not None else None
    return StreamedDataset(
        source, y=labels, preprocessing=Preprocessing(scale=1 / 255), name=folder.name, device=device
    )
