"""Statistics on arrays: tests, intervals, effect sizes, multiplicity, the seed-matched linear
model of a study's runs and the tests on whole ΔΔ profiles built on it.

A base-level package: it imports nothing of weightspace but :mod:`weightspace.errors`.
Arrays in, frozen dataclasses (or arrays) out; randomness comes in as a
``numpy.random.Generator``. The protocols that turn study tables into these arrays live in
:mod:`weightspace.compare`.

=========================  ===========================================================
module                     what
=========================  ===========================================================
:mod:`.groups`             Welch, Hsu and t intervals; :func:`two_group_test` (category
                           differences with conditions as units); :func:`shared_reference_mean`
:mod:`.permutation`        relabelling tests (exact or Monte Carlo), :func:`smallest_p`
:mod:`.effect`             Cohen's d, Hedges' g and its noncentral-t interval
:mod:`.spearman`           the one Spearman test (:func:`spearman_test`)
:mod:`.multiplicity`       Holm, Benjamini–Hochberg
:mod:`.linear`             the seed-matched linear model and its variance components
:mod:`.profiles`           omnibus "moved at all" test; the dropout → weight-decay axis
:mod:`.shape`              a profile's shape alone: cosines with two references, their test
:mod:`.mixed`              the linear mixed model (a cross-check)
=========================  ===========================================================
"""

from weightspace.stats.effect import CI_LEVEL, cohens_d, g_interval, hedges_g
from weightspace.stats.groups import (
    SharedMean,
    TwoGroupTest,
    shared_reference_mean,
    t_interval,
    two_group_test,
    welch_interval,
)
from weightspace.stats.linear import Design, LinearFit, fit
from weightspace.stats.multiplicity import benjamini_hochberg, holm
from weightspace.stats.permutation import permutation_anova, permutation_diff, smallest_p
from weightspace.stats.profiles import (
    AxisPart,
    AxisPosition,
    NoiseModel,
    Omnibus,
    axis_position,
    omnibus,
)
from weightspace.stats.spearman import SpearmanTest, spearman_test

__all__ = [
    "CI_LEVEL",
    "AxisPart",
    "AxisPosition",
    "Design",
    "LinearFit",
    "NoiseModel",
    "Omnibus",
    "SharedMean",
    "SpearmanTest",
    "TwoGroupTest",
    "axis_position",
    "benjamini_hochberg",
    "cohens_d",
    "fit",
    "g_interval",
    "hedges_g",
    "holm",
    "omnibus",
    "permutation_anova",
    "permutation_diff",
    "shared_reference_mean",
    "smallest_p",
    "spearman_test",
    "t_interval",
    "two_group_test",
    "welch_interval",
]
