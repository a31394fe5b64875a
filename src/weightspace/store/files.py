"""Atomic file writing: JSON, tables, and run directories with their manifest.

A run directory is written *atomically*: its files are built in a sibling temporary
directory (``.<name>.incomplete-<pid>``) that is renamed onto the final path only once
everything is on disk: first ``MANIFEST.json`` (every file with its size and SHA-256), then
the ``COMPLETE`` marker. A run killed at any moment therefore leaves either a complete
directory or a clearly marked incomplete one, which :func:`clean_incomplete` removes; a
complete directory damaged afterwards is caught by :func:`weightspace.store.check_run`.

The file names of a run directory are listed in :mod:`weightspace.store.layout`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from weightspace.errors import ConfigError

COMPLETE = "COMPLETE"
MANIFEST = "MANIFEST.json"
MANIFEST_VERSION = 1
INCOMPLETE_TAG = ".incomplete-"
_CHUNK = 1 << 20


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars, paths and non-finite floats into JSON-safe values."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def write_table(path: str | os.PathLike[str], df: pd.DataFrame) -> Path:
    """Write a DataFrame by suffix (.parquet, .csv, .json), atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    elif suffix == ".csv":
        df.to_csv(tmp, index=False)
    elif suffix == ".json":
        df.to_json(tmp, orient="records", indent=2)
    else:
        raise ConfigError(
            f"unsupported table format {suffix!r} for {path}; use .parquet, .csv or .json"
        )
    os.replace(tmp, path)
    return path


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".json":
        return pd.read_json(path, orient="records")
    raise ConfigError(
        f"unsupported table format {suffix!r} for {path}; use .parquet, .csv or .json"
    )


def is_complete(run_dir: str | os.PathLike[str]) -> bool:
    return (Path(run_dir) / COMPLETE).is_file()


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` when the block succeeds.

    ``MANIFEST.json`` and then the ``COMPLETE`` marker are written just before the rename. On an exception the
    temporary directory is removed and the exception propagates. If ``final`` exists and
    is complete, ``FileExistsError`` is raised unless ``overwrite``.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        if is_complete(final) and not overwrite:
            raise FileExistsError(
                f"{final} already holds a complete run; pass overwrite=True to replace it"
            )
    tmp = final.with_name(f".{final.name}{INCOMPLETE_TAG}{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        write_manifest(tmp)
        (tmp / COMPLETE).write_text("ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_incomplete(parent: str | os.PathLike[str]) -> list[Path]:
    """Remove leftover temporary run directories (from killed runs) under ``parent``."""
    removed: list[Path] = []
    parent = Path(parent)
    if not parent.is_dir():
        return removed
    for p in parent.iterdir():
        if p.is_dir() and INCOMPLETE_TAG in p.name:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_entries(run_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` of every file in ``run_dir`` except the
    manifest and the completion marker (sorted, ``/``-separated)."""
    root = Path(run_dir)
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in (MANIFEST, COMPLETE):
            continue
        out[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return out


def write_manifest(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``MANIFEST.json``: the size and SHA-256 of every file of the run directory."""
    return write_json(
        Path(run_dir) / MANIFEST,
        {"version": MANIFEST_VERSION, "files": manifest_entries(run_dir)},
    )


def add_run_table(run_dir: str | os.PathLike[str], name: str, df: pd.DataFrame) -> Path:
    """Add a table to a finished run (a file that runs of an earlier version did not write)
    and refresh its manifest, so that the run stays verifiable."""
    path = write_table(Path(run_dir) / name, df)
    write_manifest(run_dir)
    return path
