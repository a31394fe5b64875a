"""Expand a study into runs: one :class:`RunPlan` per condition × seed.

A run's identity is :meth:`weightspace.train.RunConfig.run_id` of its resolved config, and
its directory is ``runs/<condition>__s<seed>__<run_id>``. Changing anything that changes a
run's config (a learning rate, a subset size) gives it a new identity and a new directory,
so a rerun never mistakes an old result for a new one. Execution-only settings (thread
count, loader workers, evaluation batch size) are not part of the identity (see
``weightspace.train.config``), so rerunning with ``--threads 2`` resumes the same runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightspace.errors import ConfigError
from weightspace.store import run_dir_name
from weightspace.study.conditions import Condition
from weightspace.study.spec import StudySpec
from weightspace.train import RunConfig


@dataclass(frozen=True)
class RunPlan:
    """One run of a study: its condition, seed, resolved config and directory name."""

    condition: str
    category: str
    strength: float
    seed: int
    run_id: str
    config: RunConfig
    augment_level: float = math.nan  # Condition.augment_level

    @property
    def dir_name(self) -> str:
        return run_dir_name(self.condition, self.seed, self.run_id)


def resolve_config(base: Mapping[str, Any], condition: Condition, seed: int) -> RunConfig:
    """Build the RunConfig of one run: base settings, then the condition, then the seed.

    The condition's labels go into the config (and so into the run's ``config.json``):
    its name, its category and its strength (None when it has no single dose).
    """
    fields = {**base, **condition.overrides}
    strength = None if math.isnan(condition.strength) else condition.strength
    fields.update(
        seed=seed,
        condition=condition.name,
        category=condition.category.value,
        strength=strength,
    )
    try:
        return RunConfig.from_dict(fields)
    except ConfigError as err:
        raise ConfigError(f"condition {condition.name!r}, seed {seed}: {err}") from err


def expand(spec: StudySpec) -> list[RunPlan]:
    """All runs of ``spec``, condition-major (every seed of ``bs`` first, then ``dp0.1``...);
    each condition at its seeds (:meth:`StudySpec.condition_seeds`)."""
    base = spec.base_overrides()
    seeds = spec.condition_seeds()
    plans = []
    for condition in spec.condition_list():
        for seed in seeds[condition.name]:
            config = resolve_config(base, condition, seed)
            plans.append(
                RunPlan(
                    condition=condition.name,
                    category=condition.category.value,
                    strength=condition.strength,
                    seed=seed,
                    run_id=config.run_id(),
                    config=config,
                    augment_level=condition.augment_level,
                )
            )
    # Run ids are unique: the condition name and the seed are part of the id, and condition
    # names are unique within a spec (checked when the conditions are expanded).
    return plans


def with_threads(config: RunConfig, threads: int) -> RunConfig:
    """The config to execute: the identity config with the worker's thread count."""
    return dataclasses.replace(config, threads=threads)
