"""The shared helpers: config keys, atomic run directories, threads, CLI entry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from weightspace import store
from weightspace.config import config_hash, from_mapping
from weightspace.errors import ConfigError, unknown_choice


@dataclasses.dataclass(frozen=True)
class _Cfg:
    lr: float = 0.1
    epochs: int = 2


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(
        ConfigError, match=r"'epoch' \(did you mean 'epochs'\?\).*valid keys: epochs, lr"
    ):
        from_mapping(_Cfg, {"epoch": 3})


def test_config_hash_is_stable_and_content_sensitive() -> None:
    assert config_hash(_Cfg()) == config_hash(_Cfg())
    assert config_hash(_Cfg()) != config_hash(_Cfg(lr=0.2))


def test_unknown_choice_suggests() -> None:
    assert "did you mean 'resnet18'" in str(unknown_choice("model", "resnt18", ["resnet18", "mlp"]))


def test_atomic_dir_commits_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "run"
    with pytest.raises(RuntimeError), store.atomic_dir(final) as d:
        (d / "a.json").write_text("{}")
        raise RuntimeError("killed")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with store.atomic_dir(final) as d:
        store.write_json(d / "a.json", {"x": float("nan")})
    assert store.is_complete(final)
    assert store.read_json(final / "a.json") == {"x": None}


def test_clean_incomplete(tmp_path: Path) -> None:
    (tmp_path / ".run.incomplete-123").mkdir()
    (tmp_path / "done").mkdir()
    assert [p.name for p in store.clean_incomplete(tmp_path)] == [".run.incomplete-123"]
    assert [p.name for p in tmp_path.iterdir()] == ["done"]


def test_set_threads_sets_torch() -> None:
    torch = pytest.importorskip("torch")
    from weightspace.threads import set_threads

    assert set_threads(1) == 1
    assert torch.get_num_threads() == 1
    import os

    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"  # for BLAS copies loaded later
