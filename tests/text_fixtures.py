"""Tiny text fixtures: a random-weights BERT directory and a small labelled corpus."""

from __future__ import annotations

from pathlib import Path

POSITIVE = ["a good film", "great acting and a fine story", "a wonderful happy movie",
            "the best picture of the year", "funny and good", "a fine and great show"]  # fmt: skip
NEGATIVE = ["a bad film", "terrible acting and a dull story", "a boring sad movie",
            "the worst picture of the year", "dull and bad", "an awful and poor show"]  # fmt: skip


def write_corpus(path: Path, *, repeat: int = 4) -> Path:
    """A CSV with ``text`` and ``label`` (pos / neg) columns, ``12 * repeat`` rows."""
    import pandas as pd

    rows = [(t, "pos") for t in POSITIVE] + [(t, "neg") for t in NEGATIVE]
    pd.DataFrame(rows * repeat, columns=["text", "label"]).to_csv(path, index=False)
    return path


def tiny_bert_dir(root: Path) -> Path:
    """A 2-layer, 32-wide random-weights BERT with a fast word-level tokenizer, saved offline."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = root / "tiny-bert"
    if (out / "config.json").is_file():
        return out
    out.mkdir(parents=True)
    words = sorted({w for t in POSITIVE + NEGATIVE for w in t.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(str(out))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(out))
    return out
