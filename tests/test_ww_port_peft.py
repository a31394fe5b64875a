"""WeightWatcher's ``Test_PeftLayerIterator`` ported (see ``tests/ww_port.py``), plus the same
checks on the adapter saved to a directory and on the PeftModel's state dict.

The original downloads a BERT-base NER model with a LoRA adapter (r = 16 on query and value).
Offline, a small BERT with the same module tree gets a seeded LoRA adapter of the same rank
on the same modules (``init_lora_weights=False``: B is not zero, so B·A has a spectrum), so
the layer ids are the original's (15 = the first query, 20 its lora_A, 22 its lora_B).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ww_port
from ww_port import check

pytestmark = pytest.mark.oracle
peft = pytest.importorskip("peft")

RANK = 16


def _peft_model() -> Any:
    transformers = pytest.importorskip("transformers")
    ww_port.torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=64, num_labels=7,
    )  # fmt: skip
    base = transformers.BertForTokenClassification(cfg)
    lora = peft.LoraConfig(
        r=RANK, lora_alpha=32, target_modules=["query", "value"], lora_dropout=0.0,
        init_lora_weights=False,
    )  # fmt: skip
    return peft.get_peft_model(base, lora)


@pytest.fixture(scope="module")
def peft_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    model = _peft_model()
    adapter = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(str(adapter))
    return {"model": model, "adapter_dir": str(adapter), "state_dict": dict(model.state_dict())}


def test_layer_counts(peft_inputs: dict[str, Any]) -> None:
    """test_layer_count, test_layer_count_with_peft, test_layer_count_with_peft_with_base,
    test_layer_lora_A_with_peft, test_layer_longnames_with_peft and
    test_layer_longnames_with_peft_with_base."""

    def body(ww: Any, model: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        plain = watcher.describe()
        only = watcher.describe(peft=True)
        with_base = watcher.describe(peft=ww.PEFT_WITH_BASE)
        assert "peft" not in plain.columns and only.peft.all()
        assert len(with_base) == len(plain)
        assert len(only) == sum("lora_A" in n for n in plain.longname) == 4
        assert all("lora_BA" in n for n in only.longname)
        assert sum("lora_BA" in n for n in with_base.longname) == len(only)
        return plain, only, with_base

    check(body, lambda: peft_inputs["model"])


def test_analyze_peft_with_base(peft_inputs: dict[str, Any]) -> None:
    """test_analyze_peft_with_base: layers 15 (the query), 20 (its lora_A), 22 (its lora_B)
    with peft='peft_only' and 'with_base': the query, W + B·A, B·A in that order, the LoRA
    rows with r eigenvalues (the top r of the 64×64 matrices)."""

    def body(ww: Any, model: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        only = watcher.analyze(peft="peft_only", layers=[15, 20, 22])
        both = watcher.analyze(peft=ww.PEFT_WITH_BASE, layers=[15, 20, 22])
        prefix = "base_model.model.bert.encoder.layer.0.attention.self.query"
        assert list(both.longname) == [
            prefix, f"{prefix}.lora_W_plus_AB.default", f"{prefix}.lora_BA.default"
        ]  # fmt: skip
        assert list(both.peft) == [False, True, True]
        assert list(both.num_evals) == [64, RANK, RANK] and list(both.matrix_rank)[1:] == [RANK] * 2
        assert (both.N == 64).all() and (both.M == 64).all()
        return only, both

    check(body, lambda: peft_inputs["model"])


@pytest.mark.parametrize("kind", ["adapter_dir", "state_dict"])
@pytest.mark.parametrize("peft_option", [False, True, "with_base"], ids=str)
def test_adapter_inputs(peft_inputs: dict[str, Any], kind: str, peft_option: Any) -> None:
    """The adapter saved by ``save_pretrained`` (a directory: WeightWatcher's ids start at 0
    and count lora_A and lora_B tensors) and the PeftModel's state dict: describe and analyze
    with each peft option. B·A is analysed without the LoRA scale lora_alpha / r, as
    WeightWatcher does."""

    def body(ww: Any, model: Any) -> Any:
        watcher = ww.WeightWatcher(model=model)
        return watcher.describe(peft=peft_option), watcher.analyze(peft=peft_option)

    _, details = check(body, lambda: peft_inputs[kind])
    if kind == "adapter_dir" and peft_option is True:
        assert list(details.layer_id) == [0, 2, 4, 6]


def test_peft_with_a_base_model_is_refused(peft_inputs: dict[str, Any], tmp_path: Path) -> None:
    """Deliberate difference: WeightWatcher 0.7.7 ignores peft when a base_model is given
    (and, for an adapter directory against a state dict, stops on the mismatched
    frameworks); weightspace refuses the combination with UnsupportedOption."""
    base = dict(peft_inputs["model"].get_base_model().state_dict())
    ref = ww_port.oracle.WeightWatcher(model=peft_inputs["adapter_dir"], base_model=base).analyze(
        peft=True
    )
    assert "peft" not in ref.columns and any("lora_A" in n for n in ref.longname)  # ignored
    with pytest.raises(ww_port.wsw.UnsupportedOption, match="base_model"):
        ww_port.wsw.WeightWatcher(model=peft_inputs["adapter_dir"], base_model=base).analyze(
            peft=True
        )
