"""The weighted Vendi score: diversity of a training set times its fidelity to the real data."""

from __future__ import annotations

import dataclasses
import math

from weightspace.diversity.similarity import (
    mean_embedding_similarity,
    mmd_similarity,
    paired_similarity,
)
from weightspace.diversity.vendi import ArrayLike, _as_matrix, check_q, vendi_score


@dataclasses.dataclass(frozen=True)
class WeightedVendi:
    """Scores of one feature set ``other`` (augmented / synthetic / mixed) against ``real``.

    ``vs_emb``: Vendi score of ``other``; ``vs_real``: of ``real``; ``rho``: the paper's
    paired similarity; ``wvs`` = ``vs_emb · rho``; ``rho_unpaired``: cosine of the mean
    embeddings; ``mmd_sim``: exp(−MMD²) with the cosine kernel; ``wvs_unpaired`` =
    ``vs_emb · rho_unpaired``.
    """

    vs_emb: float
    vs_real: float
    rho: float
    wvs: float
    rho_unpaired: float
    mmd_sim: float
    wvs_unpaired: float
    q: float
    n_real: int
    n_other: int

    def __post_init__(self) -> None:
        if self.n_real < 1 or self.n_other < 1:
            raise ValueError(f"row counts must be >= 1, got {self.n_real}, {self.n_other}")
        check_q(self.q)

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def weighted_vendi(
    real_features: ArrayLike, other_features: ArrayLike, *, q: float | str = 1.0
) -> WeightedVendi:
    """Vendi score of ``other_features`` weighted by its similarity ρ to ``real_features``.

    Rows are paired by index for ρ (appended "add" rows against the first real rows, see
    :func:`weightspace.diversity.similarity.pair_rows`). For the un-augmented baseline pass
    the real features twice: ρ = 1 and WVS = VS.
    """
    q = check_q(q)
    r = _as_matrix(real_features, "real features")
    o = _as_matrix(other_features, "other features")
    vs = vendi_score(o, q=q)
    rho = paired_similarity(r, o)
    rho_u = mean_embedding_similarity(r, o)
    return WeightedVendi(
        vs_emb=vs,
        vs_real=vendi_score(r, q=q),
        rho=rho,
        wvs=vs * rho,
        rho_unpaired=rho_u,
        mmd_sim=mmd_similarity(r, o) if len(r) > 1 and len(o) > 1 else math.nan,
        wvs_unpaired=vs * rho_u,
        q=q,
        n_real=len(r),
        n_other=len(o),
    )
