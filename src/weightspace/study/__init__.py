"""The study: a grid of conditions × seeds, run locally or on Ray, collected into tables.

>>> from weightspace.study import StudySpec, expand, run_study
>>> spec = StudySpec.from_preset("finetune")       # doctest: +SKIP
>>> result = run_study(spec, "studies/finetune")   # doctest: +SKIP

See ``docs/study.md`` for the spec format, the presets and the result layout.
"""

from weightspace.study.collect import collect
from weightspace.study.conditions import Condition, expand_conditions
from weightspace.study.orchestrate import StudyResult, plan_table, run_study
from weightspace.study.plan import RunPlan, expand
from weightspace.study.spec import StudySpec, preset_names
from weightspace.study.summary import Overview, estimate_seconds, overview

__all__ = [
    "Condition",
    "Overview",
    "RunPlan",
    "StudyResult",
    "StudySpec",
    "collect",
    "estimate_seconds",
    "expand",
    "expand_conditions",
    "overview",
    "plan_table",
    "preset_names",
    "run_study",
]
