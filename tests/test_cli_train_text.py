"""``weightspace train --max-length --freeze-embeddings`` on a tiny random-weights BERT."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from text_fixtures import tiny_bert_dir, write_corpus
from weightspace import store
from weightspace.cli import app

runner = CliRunner()


def _args(tmp_path: Path, out: Path) -> list[str]:
    corpus = write_corpus(tmp_path / "c.csv", repeat=3)
    bert = tiny_bert_dir(tmp_path)
    return ["train", "--dataset", f"text:{corpus}", "--model", "bert", "--pretrained", str(bert),
            "--epochs", "1", "--batch-size", "8", "--threads", "1", "--quiet", "-o", str(out)]  # fmt: skip


def test_text_flags_reach_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [*_args(tmp_path, out), "--max-length", "4", "--freeze-embeddings"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = store.read_json(out / "config.json")
    assert cfg["max_length"] == 4 and cfg["freeze_embeddings"] is True
    metrics = store.read_json(out / "metrics.json")
    assert metrics["text_truncated_test"] > 0.0  # 4 tokens with [CLS]/[SEP] cut most texts
    before = load_file(out / store.INIT_WEIGHTS_FILE)
    after = load_file(out / store.WEIGHTS_FILE)
    word = next(k for k in after if k.endswith("word_embeddings.weight"))
    assert torch.equal(before[word], after[word])
    other = next(k for k in after if k.endswith("attention.self.query.weight"))
    assert not torch.equal(before[other], after[other])


def test_train_embeddings_is_the_default_and_can_be_said(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, [*_args(tmp_path, out), "--train-embeddings"])
    assert result.exit_code == 0, result.output
    assert store.read_json(out / "config.json")["freeze_embeddings"] is False


def test_invalid_text_flags_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "run"
    short = runner.invoke(app, [*_args(tmp_path, out), "--max-length", "1"])
    assert short.exit_code == 2 and "max_length" in short.output
    image = runner.invoke(app, ["train", "--model", "mlp", "--max-length", "32",
                                "--freeze-embeddings", "--quiet", "-o", str(out)])  # fmt: skip
    assert image.exit_code == 2
    assert "--max-length, --freeze-embeddings apply to text datasets only" in image.output
    assert not store.is_complete(out)
