"""The condition vocabulary every stage shares: categories, the baseline, augmentation names.

A study's condition has a *name* as the paper writes it (``bs``, ``dp0.3``, ``wd5e-05``,
``divAuto``, ``gen0.5_add``), a *category* (:class:`Category`) that the comparison groups by,
and a *strength* (its numeric dose; see :mod:`weightspace.study.conditions`). This base
module holds the words themselves, so that the data stage (which accepts a condition name as
an augmentation policy), the study (which names conditions) and the tables agree by
construction rather than by a test that keeps two copies equal.

Nothing here imports a stage (see ``docs/architecture.md``).
"""

from __future__ import annotations

import enum


class Category(str, enum.Enum):
    """What kind of change a condition makes to the baseline's training.

    The value is what ``runs.parquet``, ``layers.parquet`` and a run's ``config.json`` hold.
    """

    BS = "bs"  # the baseline: nothing added
    DIV = "div"  # data diversity from augmentation (image ops or EDA on texts)
    DP = "dp"  # dropout
    WD = "wd"  # weight decay
    GEN = "gen"  # synthetic (generated) training data, replacing or added to the real data
    COMBO = "combo"  # two or more of the above at once

    def __str__(self) -> str:
        return self.value


#: The name of the baseline condition (its category is :attr:`Category.BS`).
BASELINE = "bs"

#: Image augmentation policy (``weightspace.data.AUGMENTATIONS``) -> the paper's condition
#: name. The paper spells the noise conditions "Noize"; its spelling is kept so that tables
#: line up with the published ones. The inverse lets a condition name stand for its policy.
AUGMENT_CONDITIONS: dict[str, str] = {
    "auto": "divAuto", "rand": "divRand", "augmix": "divAugM", "trivial": "divTrAu",
    "noise10": "divNoize10", "noise30": "divNoize30", "noise50": "divNoize50",
    "auto1": "divAuto1", "auto2": "divAuto2", "auto3": "divAuto3",
}  # fmt: skip
