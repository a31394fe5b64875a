"""EDA (Wei & Zou 2019): how many words each op touches, WordNet synonyms, seeding, names."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from weightspace.data.eda import STOP_WORDS, make_text_augment, parse_policy
from weightspace.data.wordnet import LEXNAMES, lexnames_text, wordnet_root
from weightspace.errors import ConfigError, DataError

HAS_WORDNET = Path("/usr/share/wordnet/data.noun").is_file()
needs_wordnet = pytest.mark.skipif(not HAS_WORDNET, reason="needs Debian wordnet-base")

# ten content words, each with two known fake synonyms
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()
FAKE = {w: (w.upper() + "1", w.upper() + "2") for w in WORDS}
TEXT = " ".join(WORDS)


def _fake(word: str) -> tuple[str, ...]:
    return FAKE.get(word, ())


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.5])
def test_sr_replaces_alpha_n_distinct_words_with_synonyms(alpha):
    aug = make_text_augment(f"sr{alpha}", synonyms=_fake)
    n = max(1, math.floor(alpha * len(WORDS)))
    for seed in range(20):
        out = aug([TEXT], np.random.default_rng(seed))[0].split()
        assert len(out) == len(WORDS)
        changed = [(a, b) for a, b in zip(WORDS, out, strict=True) if a != b]
        assert len(changed) == n
        assert all(b in FAKE[a] for a, b in changed)


def test_sr_replaces_every_occurrence_and_skips_stop_words():
    aug = make_text_augment("sr0.1", synonyms=lambda w: ("X",) if w in ("alpha", "the") else ())
    out = aug(["the alpha and the alpha"], np.random.default_rng(0))[0]
    assert out == "the X and the X"
    assert "the" in STOP_WORDS


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.5])
def test_ri_inserts_alpha_n_synonyms(alpha):
    aug = make_text_augment(f"ri{alpha}", synonyms=_fake)
    n = max(1, math.floor(alpha * len(WORDS)))
    out = aug([TEXT], np.random.default_rng(1))[0].split()
    assert len(out) == len(WORDS) + n
    inserted = Counter(out) - Counter(WORDS)
    assert sum(inserted.values()) == n
    assert all(any(w in syns for syns in FAKE.values()) for w in inserted)
    assert [w for w in out if w in WORDS] == WORDS  # originals keep their order


def test_rs_keeps_the_words_and_moves_at_most_2n():
    aug = make_text_augment("rs0.3", synonyms=_fake)
    for seed in range(20):
        out = aug([TEXT], np.random.default_rng(seed))[0].split()
        assert sorted(out) == sorted(WORDS)
        assert 0 < sum(a != b for a, b in zip(WORDS, out, strict=True)) <= 2 * 3


def test_rd_deletes_each_word_with_probability_alpha():
    aug = make_text_augment("rd0.3", synonyms=_fake)
    rng = np.random.default_rng(0)
    kept = [len(aug([TEXT], rng)[0].split()) for _ in range(2000)]
    rate = 1 - np.mean(kept) / len(WORDS)
    # binomial: 20,000 Bernoulli(0.3) draws -> std 0.0032; 5 sigma
    assert abs(rate - 0.3) < 0.017
    one = make_text_augment("rd1", synonyms=_fake)
    assert all(len(one([TEXT], rng)[0].split()) == 1 for _ in range(20))  # one word stays


def test_same_seed_same_text_other_seed_other_text():
    aug = make_text_augment("sr0.3+ri0.1+rs0.1+rd0.1", synonyms=_fake)
    a = aug([TEXT, TEXT], np.random.default_rng(7))
    assert a == aug([TEXT, TEXT], np.random.default_rng(7))
    assert a[0] != a[1]  # per sample: each text draws its own changes
    assert a != aug([TEXT, TEXT], np.random.default_rng(8))


def test_policy_names_follow_the_paper_tables():
    assert make_text_augment("sr0.3").name == "div_sr_03"
    assert make_text_augment("rd0.5").name == "div_rd_05"
    assert make_text_augment("rd0.1+sr0.1").name == "div_sr_01_rd_01"  # EDA order
    assert make_text_augment("none").is_identity
    assert parse_policy([{"op": "ri", "alpha": 0.5}]) == (("ri", 0.5),)
    for bad in ("sr", "xx0.3", "sr0.3+sr0.5", "sr1.5", "auto"):
        with pytest.raises(ConfigError):
            parse_policy(bad)


def test_lexnames_has_the_45_lexicographer_files():
    assert len(LEXNAMES) == 45
    lines = lexnames_text().splitlines()
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1"
    assert lines[44] == "44\tadj.ppl\t3" and lines[29] == "29\tverb.body\t2"


def test_missing_wordnet_names_the_debian_packages(tmp_path):
    with pytest.raises(DataError, match="apt-get install wordnet-base wordnet-sense-index"):
        wordnet_root(source=tmp_path / "nowhere", cache=tmp_path)


@needs_wordnet
def test_wordnet_layout_and_synonyms(tmp_path, monkeypatch):
    from weightspace.data import wordnet as wn

    monkeypatch.setenv("WEIGHTSPACE_CACHE", str(tmp_path))
    wn.wordnet.cache_clear()
    wn.synonyms.cache_clear()
    try:
        root = wn.wordnet_root()
        assert root == tmp_path / "nltk_data"
        assert (root / "corpora" / "wordnet" / "lexnames").read_text() == lexnames_text()
        assert wn.wordnet().get_version() == "3.0"
        assert {"film", "flick", "picture"} <= set(wn.synonyms("movie"))
        assert wn.wordnet().synsets("dog")[0].lexname() == "noun.animal"
        # real EDA: every replaced word is a WordNet synonym of the word it replaced
        text = "the actors deliver a wonderful performance in this funny movie"
        aug = make_text_augment("sr0.3")
        for seed in range(5):
            out = aug([text], np.random.default_rng(seed))[0]
            before, after = text.split(), out.split()
            if len(after) == len(before):
                for a, b in zip(before, after, strict=True):
                    assert a == b or b in {w for s in wn.synonyms(a) for w in s.split()}
            assert out != text
    finally:
        wn.wordnet.cache_clear()
        wn.synonyms.cache_clear()
