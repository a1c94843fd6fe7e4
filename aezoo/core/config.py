"""Frozen dataclass configs that round-trip through ``config.json``."""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import AezooError, ConfigError, close_matches

__all__ = [
    "AEConfig",
    "config_from_dict",
    "config_to_dict",
    "dumps_json",
    "read_json",
    "replace_config",
]


#: The largest JSON file aezoo reads (configs, checkpoints' metadata, detectors are a few kB).
MAX_JSON_BYTES = 64 << 20

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class AEConfig:
    """Fields every architecture config has. Subclasses add their own, one comment per field."""

    input_shape: tuple[int, ...] = (1, 28, 28)  # shape of one input sample, without the batch dim

    def __post_init__(self) -> None:
        # Lists arrive from JSON and from the CLI; keep configs hashable and comparable.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        if not self.input_shape or any(int(d) <= 0 for d in self.input_shape):
            raise ConfigError(f"input_shape must be positive sizes, got {self.input_shape!r}")
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` if field values do not fit together. Override to add checks."""

    @classmethod
    def resolve_aliases(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Map convenience keys onto real fields before a config is built (e.g. ``latent_dim`` onto
        an MLP's ``dims``). The default has none; override to add them and say so in the docstring."""
        return data


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - forward refs that cannot resolve
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Bring a JSON value back to the field's declared type (tuples, floats from ints)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key!r}: {value!r} does not fit {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, key) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"config key {key!r} expects an integer, got {value!r}")
    if tp in (int, str, bool, float) and not isinstance(value, tp):
        if tp is int and isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"config key {key!r} expects {tp.__name__}, got {value!r}")
    return value


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Build config ``cls`` from a mapping; unknown keys are an error that lists the valid ones."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of field names to values, got {data!r}")
    if isinstance(cls, type) and issubclass(cls, AEConfig):
        data = cls.resolve_aliases(dict(data))
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # C is bound to AEConfig, a dataclass
    unknown = sorted(set(data) - names)
    if unknown:
        hints = []
        for key in unknown:
            near = close_matches(key, names, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} for {cls.__name__}: "
            f"{', '.join(hints)}; valid keys: {', '.join(sorted(names))}"
        )
    types_ = _field_types(cls)
    kwargs = {k: _coerce(v, types_.get(k, Any), k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # e.g. a required field missing
        raise ConfigError(f"{cls.__name__}: {e}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Return the config as a JSON-ready dict (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def replace_config(cfg: C, **overrides: Any) -> C:
    """Return a copy of ``cfg`` with ``overrides`` applied, checked like ``config_from_dict``."""
    data = config_to_dict(cfg)
    data.update(overrides)
    return config_from_dict(type(cfg), data)


def dumps_json(data: Any) -> str:
    """Serialize like huggingface_hub does for config.json: sorted keys, indent 2, newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_json(
    path: str | os.PathLike[str],
    *,
    error: type[AezooError] = ConfigError,
    fix: str = "",
    allow_nan: bool = False,
    max_bytes: int = MAX_JSON_BYTES,
) -> Any:
    """The JSON value in ``path``; anything that is not a readable JSON text is ``error``.

    Bounded in time and memory: no more than ``max_bytes`` are read (a larger file, or a device
    that never ends, is refused), and a nesting too deep for the parser (``RecursionError``),
    invalid UTF-8 (a pickle, a binary file) and, unless ``allow_nan``, ``NaN``/``Infinity`` are
    refused with one message ending in ``fix``.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.json"; _ = p.write_text('{"a": [1, 2]}')
    >>> read_json(p)
    {'a': [1, 2]}
    """
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    try:
        with open(path, "rb") as f:  # in chunks: f.read(n) sets n bytes aside before it reads any
            chunks, total = [], 0
            while total <= max_bytes and (chunk := f.read(min(1 << 20, max_bytes + 1 - total))):
                chunks.append(chunk)
                total += len(chunk)
            blob = b"".join(chunks)
        if len(blob) > max_bytes:
            raise error(f"{path} holds more than the {max_bytes:,} bytes a JSON file of aezoo may have{tail}")
        return json.loads(blob.decode("utf-8-sig"), parse_constant=None if allow_nan else _no_constant)
    except AezooError:
        raise
    except FileNotFoundError:
        raise error(f"{path} does not exist{tail}") from None
    except IsADirectoryError:
        raise error(f"{path} is a directory, not a JSON file{tail}") from None
    except OSError as e:
        raise error(f"cannot read {path} ({e.strerror or e}){tail}") from None
    except UnicodeDecodeError:
        raise error(f"{path} is not a JSON text (not UTF-8: a binary file or a pickle?){tail}") from None
    except RecursionError:
        raise error(f"{path} nests its JSON too deeply to be read{tail}") from None
    except ValueError as e:  # json.JSONDecodeError, and NaN/Infinity from _no_constant
        raise error(f"{path} is not valid JSON ({e}){tail}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
