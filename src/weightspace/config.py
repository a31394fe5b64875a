"""Helpers shared by the frozen-dataclass configs: build from mappings, strict keys, TOML.

Every config in weightspace is a frozen dataclass validated in ``__post_init__``. An
unknown key in a mapping or TOML file is an error that lists the valid keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from weightspace.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


def check_keys(given: Mapping[str, Any], valid: list[str] | tuple[str, ...], where: str) -> None:
    """Raise :class:`ConfigError` naming unknown keys and the valid ones."""
    import difflib

    unknown = [k for k in given if k not in valid]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, list(valid), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} in {where}: {', '.join(hints)}; "
            f"valid keys: {', '.join(sorted(valid))}"
        )


def check_int(
    name: str, value: Any, *, minimum: int | None = None, allow_none: bool = False
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a Python ``int`` (not a bool) ``>=
    minimum``, or None when ``allow_none``. The message names the setting, what is allowed
    and what was given."""
    if value is None and allow_none:
        return
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or (minimum is not None and value < minimum):
        allowed = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        raise ConfigError(
            f"{name} must be {allowed}{' or None' if allow_none else ''}; got {value!r}"
        )


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data``, refusing unknown keys."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    check_keys(data, names, where or cls.__name__)
    return cls(**dict(data))


def to_dict(obj: Any) -> dict[str, Any]:
    """``dataclasses.asdict`` with tuples turned into lists (JSON/TOML friendly)."""

    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in dataclasses.asdict(obj).items()}


def config_hash(obj: Any, length: int = 10) -> str:
    """Stable short hash of a config's resolved contents (sorted-key JSON, SHA-256)."""
    payload = json.dumps(
        to_dict(obj) if dataclasses.is_dataclass(obj) else obj, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; check the path")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from err
