"""The study specification: a TOML file (or a shipped preset) naming the whole experiment.

.. code-block:: toml

    [study]
    name = "fmnist-quick"
    seeds = [0, 1]

    [data]
    dataset = "fashion-mnist"
    train_size = 5000

    [model]
    name = "cnn-small"

    [train]
    epochs = 3
    lr = 1e-3

    [conditions]
    baseline = true
    dropout = [0.1, 0.3]
    weight_decay = [1e-4, 1e-3]
    augment = ["auto", "noise10"]
    combinations = [{augment = "auto", dropout = 0.3}]

Every section is strict: an unknown key is a :class:`~weightspace.errors.ConfigError` that
lists the valid keys. ``[data]``, ``[model]`` and ``[train]`` hold fields of
:class:`weightspace.train.RunConfig` (``[model] name`` is its ``model`` field); the values are
validated when the runs are expanded (:func:`weightspace.study.expand`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from weightspace.config import check_int, check_keys, load_toml, tomllib
from weightspace.errors import ConfigError, unknown_choice
from weightspace.study.conditions import Condition, expand_conditions
from weightspace.train.config import RunConfig
from weightspace.train.modalities import modality_of
from weightspace.vocabulary import Category

log = logging.getLogger(__name__)

DEPRECATED_PRESETS = {"quick": "scratch"}  # old name -> current name
SECTIONS = ("study", "data", "model", "train", "conditions")
STUDY_KEYS = ("name", "seeds", "seeds_per_condition", "diversity", "description")
# Section key -> RunConfig field.
DATA_FIELDS = {
    k: k
    for k in (
        "dataset",
        "data_dir",
        "train_size",
        "val_fraction",
        "test_size",
        "ood",
        "ood_severities",
    )
}
MODEL_FIELDS = {
    "name": "model",
    "width": "width",
    "pretrained": "pretrained",
    "max_length": "max_length",
    "freeze_embeddings": "freeze_embeddings",
    "image_size": "image_size",
}
TRAIN_FIELDS = {
    k: k
    for k in (
        "epochs",
        "lr",
        "batch_size",
        "optimizer",
        "momentum",
        "weight_decay_params",
        "schedule",
        "snapshot_every",
        "snapshot_every_steps",
        "snapshot_mp_fit",
        "hessian",
        "hessian_every_steps",
        "hessian_probes",
        "hessian_batches",
        "compat",
        "mp_fit",
        "overlap_k",
        "eval_batch_size",
        "num_workers",
        "device",
    )
}
SECTION_FIELDS = {"data": DATA_FIELDS, "model": MODEL_FIELDS, "train": TRAIN_FIELDS}


def preset_names() -> list[str]:
    """Names of the presets shipped in ``weightspace/study/presets/*.toml``."""
    folder = resources.files("weightspace.study") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


@dataclass(frozen=True)
class StudySpec:
    """A validated study: name, seeds, base run settings and the conditions table."""

    name: str = "study"
    seeds: tuple[int, ...] = (0, 1)
    seeds_per_condition: int | None = None  # None: every condition at every seed
    diversity: bool | str = False  # run the diversity prediction check (a string: its encoder)
    description: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=lambda: {"baseline": True})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ConfigError(
                f"[study] name must be a non-empty string without '/', got {self.name!r}"
            )
        seeds = self.seeds
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = (seeds,)
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise ConfigError(f"[study] seeds must be a non-empty list of integers, got {seeds!r}")
        for s in seeds:
            check_int("[study] seeds", s, minimum=0)
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"[study] seeds must not repeat, got {list(seeds)}")
        object.__setattr__(self, "seeds", tuple(seeds))
        if not isinstance(self.diversity, bool | str) or self.diversity == "":
            raise ConfigError(
                f"[study] diversity must be true, false or an encoder name (e.g. "
                f'"efficientnet-lite0"), got {self.diversity!r}'
            )
        if self.seeds_per_condition is not None:
            check_int("[study] seeds_per_condition", self.seeds_per_condition, minimum=1)
            if self.seeds_per_condition > len(seeds):
                raise ConfigError(
                    f"[study] seeds_per_condition = {self.seeds_per_condition} is more than the "
                    f"{len(seeds)} seeds listed in [study] seeds; list more seeds or ask for fewer"
                )
        for section, fields in SECTION_FIELDS.items():
            table = getattr(self, section)
            if not isinstance(table, Mapping):
                raise ConfigError(f"[{section}] must be a table, got {table!r}")
            check_keys(table, tuple(fields), f"[{section}]")
            object.__setattr__(self, section, dict(table))
        if not isinstance(self.conditions, Mapping):
            raise ConfigError(f"[conditions] must be a table, got {self.conditions!r}")
        object.__setattr__(self, "conditions", dict(self.conditions))
        self.condition_list()  # validates names, doses and keys now rather than at run time

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "study spec") -> StudySpec:
        check_keys(data, SECTIONS, where)
        study = dict(data.get("study", {}))
        check_keys(study, STUDY_KEYS, "[study]")
        return cls(
            **study,
            data=data.get("data", {}),
            model=data.get("model", {}),
            train=data.get("train", {}),
            conditions=data.get("conditions", {"baseline": True}),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> StudySpec:
        return cls.from_dict(load_toml(path), where=str(path))

    @classmethod
    def from_preset(cls, name: str) -> StudySpec:
        names = preset_names()
        if name in DEPRECATED_PRESETS:
            log.warning("preset %r is now called %r; using it", name, DEPRECATED_PRESETS[name])
            name = DEPRECATED_PRESETS[name]
        if name not in names:
            raise unknown_choice("preset", name, names)
        folder = resources.files("weightspace.study") / "presets"
        text = (folder / f"{name}.toml").read_text()
        return cls.from_dict(tomllib.loads(text), where=f"preset {name!r}")

    # -- views ---------------------------------------------------------------------------
    @property
    def dataset(self) -> str:
        """The dataset of every run (``[data] dataset``, else RunConfig's default)."""
        return str(self.data.get("dataset", RunConfig.dataset))

    def condition_list(self) -> list[Condition]:
        return expand_conditions(self.conditions, modality=modality_of(self.dataset))

    def condition_seeds(self) -> dict[str, tuple[int, ...]]:
        """The seeds each condition runs at. The baseline — the shared reference every
        condition's ΔΔ subtracts — runs at every seed of ``seeds``; with
        ``seeds_per_condition = n`` the k-th other condition runs at ``n`` consecutive ones,
        starting at the k-th (modulo their number): every seed's baseline run is matched by
        some conditions, neighbouring conditions share seeds (so the model separates seed
        effects from condition effects without leaning on the baseline alone), and a
        category's conditions spread over the baseline's seeds (docs/study.md, "Design")."""
        n = self.seeds_per_condition
        out: dict[str, tuple[int, ...]] = {}
        k = 0
        for condition in self.condition_list():
            if n is None or condition.category is Category.BS:
                out[condition.name] = self.seeds
                continue
            picks = [(k + j) % len(self.seeds) for j in range(n)]
            out[condition.name] = tuple(sorted(self.seeds[i] for i in picks))
            k += 1
        return out

    def base_overrides(self) -> dict[str, Any]:
        """The RunConfig fields set by ``[data]``, ``[model]`` and ``[train]``."""
        out: dict[str, Any] = {}
        for section, fields in SECTION_FIELDS.items():
            for key, value in getattr(self, section).items():
                out[fields[key]] = tuple(value) if isinstance(value, list) else value
        return out

    def with_overrides(
        self, *, seeds: tuple[int, ...] | None = None, **run_fields: Any
    ) -> StudySpec:
        """A copy with seeds and/or RunConfig fields replaced (``None`` values are ignored).

        ``run_fields`` use RunConfig names (``model``, ``train_size``, ``device``...); each is
        put in the section that holds it.
        """
        sections = {s: dict(getattr(self, s)) for s in SECTION_FIELDS}
        for run_field, value in run_fields.items():
            if value is None:
                continue
            for section, fields in SECTION_FIELDS.items():
                key = next((k for k, f in fields.items() if f == run_field), None)
                if key is not None:
                    sections[section][key] = value
                    break
            else:
                valid = [f for fields in SECTION_FIELDS.values() for f in fields.values()]
                raise unknown_choice("study override", run_field, valid)
        return dataclasses.replace(
            self,
            seeds=self.seeds if seeds is None else tuple(seeds),
            data=sections["data"],
            model=sections["model"],
            train=sections["train"],
        )

    def to_dict(self) -> dict[str, Any]:
        study: dict[str, Any] = {"name": self.name, "seeds": list(self.seeds)}
        if self.seeds_per_condition is not None:
            study["seeds_per_condition"] = self.seeds_per_condition
        if self.diversity:
            study["diversity"] = self.diversity
        if self.description:
            study["description"] = self.description
        return {
            "study": study,
            "data": dict(self.data),
            "model": dict(self.model),
            "train": dict(self.train),
            "conditions": dict(self.conditions),
        }

    def to_toml(self) -> str:
        """The spec as TOML text that :meth:`from_toml` reads back to an equal spec."""
        try:
            return tomli_w.dumps(_plain(self.to_dict()))
        except TypeError as err:
            raise ConfigError(f"cannot write the spec as TOML: {err}") from err


def _plain(v: Any) -> Any:
    """TOML-ready values: no None (TOML has no null), tuples as lists, paths as text."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v
