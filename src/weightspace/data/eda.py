"""Easy Data Augmentation for text (Wei & Zou, 2019), seeded and per sample.

Four operations on a text of L whitespace-separated words, at strength α:

- ``sr`` synonym replacement: n = max(1, ⌊α·L⌋) distinct non-stop words that have WordNet
  synonyms are chosen at random; every occurrence of each is replaced by one of its
  synonyms (chosen at random).
- ``ri`` random insertion: n times, a synonym of a random non-stop word that has one is
  inserted at a random position.
- ``rs`` random swap: n times, two random positions are swapped.
- ``rd`` random deletion: each word is deleted with probability α; at least one word stays.

A policy is ``"none"``, one op at a strength (``"sr0.3"``), several joined by ``+``
(``"sr0.1+rd0.1"``: applied in the order sr, ri, rs, rd, each at its own α), or a list of
``{op = "sr", alpha = 0.3}`` tables. Its condition name follows the paper's text tables:
``sr0.3`` → ``div_sr_03``; ``sr0.1+rd0.1`` → ``div_sr_01_rd_01``.

Randomness: :meth:`TextAugment.__call__` takes a :class:`numpy.random.Generator`; the training
loop seeds one per batch from (seed, epoch, batch), so every epoch draws new augmentations
and the same seed gives the same texts. Words are compared lower-cased; punctuation stays
attached to its word (a word with punctuation has no synonyms and is never replaced).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.data.wordnet import synonyms as wordnet_synonyms
from weightspace.errors import ConfigError, unknown_choice
from weightspace.vocabulary import BASELINE

EDA_OPS = ("sr", "ri", "rs", "rd")
_POLICY = re.compile(r"^(sr|ri|rs|rd)(\d*\.?\d+)$")
# Common English function words: never replaced, never the source of an insertion.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()
)

SynonymFn = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class TextAugment:
    """A seeded per-sample EDA policy; ``ops`` is ((op, α), ...) in the order applied."""

    ops: tuple[tuple[str, float], ...]
    synonyms: SynonymFn | None = None  # default: WordNet (weightspace.data.wordnet)

    @property
    def is_identity(self) -> bool:
        return not self.ops

    @property
    def name(self) -> str:
        """The paper's condition name (``div_sr_03``); ``bs`` for no augmentation."""
        if not self.ops:
            return BASELINE
        return "div_" + "_".join(f"{op}_{_alpha_tag(a)}" for op, a in self.ops)

    def __call__(self, texts: Sequence[str], rng: np.random.Generator) -> list[str]:
        """Each text augmented independently (its own draws from ``rng``, in order)."""
        syn = self.synonyms or _wordnet_synonyms()
        out = []
        for text in texts:
            words = text.split()
            for op, alpha in self.ops:
                words = OPERATIONS[op](words, alpha, rng, syn)
            out.append(" ".join(words))
        return out


def _alpha_tag(alpha: float) -> str:
    return f"{alpha:g}".replace(".", "")


def _wordnet_synonyms() -> SynonymFn:
    return wordnet_synonyms


def _count(alpha: float, n_words: int) -> int:
    return max(1, math.floor(alpha * n_words))


def _candidates(words: list[str], syn: SynonymFn) -> list[str]:
    """Distinct lower-cased non-stop words of ``words`` that have synonyms, in text order."""
    seen: dict[str, None] = {}
    for w in words:
        key = w.lower()
        if key not in STOP_WORDS and key not in seen and key.isalpha() and syn(key):
            seen[key] = None
    return list(seen)


def synonym_replacement(
    words: list[str], alpha: float, rng: np.random.Generator, syn: SynonymFn
) -> list[str]:
    if not words:
        return words
    cands = _candidates(words, syn)
    chosen = [cands[i] for i in rng.permutation(len(cands))[: _count(alpha, len(words))]]
    replace = {w: _pick(syn(w), rng) for w in chosen}
    return [replace.get(w.lower(), w) for w in words]


def random_insertion(
    words: list[str], alpha: float, rng: np.random.Generator, syn: SynonymFn
) -> list[str]:
    if not words:
        return words
    out = list(words)
    cands = _candidates(words, syn)
    if not cands:
        return out
    for _ in range(_count(alpha, len(words))):
        new = _pick(syn(cands[int(rng.integers(len(cands)))]), rng)
        out.insert(int(rng.integers(len(out) + 1)), new)
    return out


def random_swap(
    words: list[str], alpha: float, rng: np.random.Generator, syn: SynonymFn
) -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(_count(alpha, len(words))):
        i, j = rng.choice(len(out), size=2, replace=False)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(
    words: list[str], alpha: float, rng: np.random.Generator, syn: SynonymFn
) -> list[str]:
    if len(words) <= 1:
        return list(words)
    keep = rng.random(len(words)) >= alpha
    if not keep.any():
        keep[int(rng.integers(len(words)))] = True
    return [w for w, k in zip(words, keep, strict=True) if k]


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


OPERATIONS = {
    "sr": synonym_replacement,
    "ri": random_insertion,
    "rs": random_swap,
    "rd": random_deletion,
}


def parse_policy(spec: Any) -> tuple[tuple[str, float], ...]:
    """``"sr0.3"``, ``"sr0.1+rd0.1"``, ``"none"`` or op tables → ((op, α), ...) in EDA order."""
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in ("none", ""):
            return ()
        parts: list[tuple[str, float]] = []
        for part in key.split("+"):
            m = _POLICY.match(part.strip())
            if m is None:
                raise ConfigError(
                    f"unknown text augmentation {spec!r}; use an EDA op ({', '.join(EDA_OPS)}) "
                    "followed by its strength α, e.g. 'sr0.3', joined by '+' for "
                    "combinations ('sr0.1+rd0.1'), or 'none'"
                )
            parts.append((m.group(1), float(m.group(2))))
    elif isinstance(spec, (list, tuple)) and all(isinstance(op, Mapping) for op in spec):
        parts = []
        for op in spec:
            name = op.get("op", op.get("name"))
            if name not in EDA_OPS:
                raise unknown_choice("EDA op", name, EDA_OPS)
            extra = set(op) - {"op", "name", "alpha"}
            if extra or "alpha" not in op:
                raise ConfigError(
                    f"an EDA op table is {{op = 'sr', alpha = 0.3}}; got {dict(op)!r}"
                )
            parts.append((str(name), op["alpha"]))
    else:
        raise ConfigError(
            f"a text augmentation is a policy string such as 'sr0.3' or a list of "
            f"{{op, alpha}} tables; got {spec!r}"
        )
    seen = [op for op, _ in parts]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"text augmentation {spec!r} names an EDA op twice; give each once")
    for op, alpha in parts:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ConfigError(f"EDA strength of {op} must be a number; got {alpha!r}")
        if not 0.0 < float(alpha) <= 1.0:
            raise ConfigError(f"EDA strength of {op} must be in (0, 1]; got {alpha}")
    return tuple(sorted(((op, float(a)) for op, a in parts), key=lambda p: EDA_OPS.index(p[0])))


def make_text_augment(spec: Any, *, synonyms: SynonymFn | None = None) -> TextAugment:
    """The :class:`TextAugment` of a policy (see :func:`parse_policy`)."""
    return TextAugment(parse_policy(spec), synonyms)


def is_eda_policy(spec: Any) -> bool:
    """Whether ``spec`` is a text augmentation policy string other than ``none``."""
    if not isinstance(spec, str):
        return False
    try:
        return bool(parse_policy(spec))
    except ConfigError:
        return False


def eda_strength(spec: Any) -> float:
    """The dose of a single-op policy (its α); NaN for combinations and ``none``."""
    ops = parse_policy(spec)
    return ops[0][1] if len(ops) == 1 else math.nan
