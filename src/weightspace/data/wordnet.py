"""WordNet 3.0 synonyms through NLTK, read from the Debian packages, offline.

Debian's ``wordnet-base`` and ``wordnet-sense-index`` install the WordNet 3.0 database in
``/usr/share/wordnet`` (``index.*``, ``data.*``, ``*.exc``, ``index.sense``). NLTK's reader
wants them as ``<dir>/corpora/wordnet/`` plus a ``lexnames`` file (the 45 lexicographer files,
which Debian does not ship). :func:`wordnet_root` builds that layout in a cache directory —
copies of the Debian files (36 MB, made once; NLTK refuses symbolic links that resolve
outside its corpus root and hard-linked files) and a generated ``lexnames`` — never in the
repository.

``$WEIGHTSPACE_WORDNET`` points at another WordNet database folder;
``$WEIGHTSPACE_CACHE`` (default ``~/.cache/weightspace``) holds the layout.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from weightspace.errors import DataError

log = logging.getLogger(__name__)

DEBIAN_DIR = "/usr/share/wordnet"
POS = ("noun", "verb", "adj", "adv")
REQUIRED = tuple(f"{kind}.{pos}" for kind in ("index", "data") for pos in POS)
OPTIONAL = (*(f"{pos}.exc" for pos in POS), "index.sense", "cntlist.rev")

# WordNet 3.0's lexicographer files, numbered 0..44 (the ``lexnames`` file of the database);
# syntactic category: 1 noun, 2 verb, 3 adjective, 4 adverb.
_LEX_GROUPS = (
    ("adj", ("all", "pert")),
    ("adv", ("all",)),
    ("noun", ("Tops", "act", "animal", "artifact", "attribute", "body", "cognition",
              "communication", "event", "feeling", "food", "group", "location", "motive",
              "object", "person", "phenomenon", "plant", "possession", "process", "quantity",
              "relation", "shape", "state", "substance", "time")),
    ("verb", ("body", "change", "cognition", "communication", "competition", "consumption",
              "contact", "creation", "emotion", "motion", "perception", "possession", "social",
              "stative", "weather")),
    ("adj", ("ppl",)),
)  # fmt: skip
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
LEXNAMES = tuple(
    (f"{pos}.{name}", _POS_NUMBER[pos]) for pos, names in _LEX_GROUPS for name in names
)

INSTALL_HINT = (
    "install WordNet 3.0 with `sudo apt-get install wordnet-base wordnet-sense-index` "
    "(or set $WEIGHTSPACE_WORDNET to a folder holding index.noun, data.noun, ...)"
)


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>pos.name<TAB>category`` for the 45 files."""
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in enumerate(LEXNAMES))


def source_dir() -> Path:
    return Path(os.environ.get("WEIGHTSPACE_WORDNET", DEBIAN_DIR)).expanduser()


def cache_dir() -> Path:
    return Path(os.environ.get("WEIGHTSPACE_CACHE", "~/.cache/weightspace")).expanduser()


def wordnet_root(*, source: Path | None = None, cache: Path | None = None) -> Path:
    """``<cache>/nltk_data`` laid out as NLTK expects (``corpora/wordnet/``), built once."""
    src = source or source_dir()
    missing = [f for f in REQUIRED if not (src / f).is_file()]
    if missing:
        raise DataError(
            f"WordNet database not found in {src} (missing {', '.join(missing[:4])}"
            f"{', ...' if len(missing) > 4 else ''}); {INSTALL_HINT}"
        )
    root = (cache or cache_dir()) / "nltk_data"
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED + OPTIONAL:
        _place(src / name, target / name)
    lex = target / "lexnames"
    text = lexnames_text()
    if not lex.is_file() or lex.read_text() != text:
        tmp = lex.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(lex)
    return root


def _place(real: Path, copy: Path) -> None:
    """A copy of ``real`` at ``copy``, kept while its size and time match.

    A copy, not a link: NLTK refuses symbolic links that resolve outside its corpus root and
    files with more than one hard link.
    """
    if not real.is_file():
        return
    rt = real.stat()
    if copy.is_file() and not copy.is_symlink():
        st = copy.stat()
        if st.st_size == rt.st_size and int(st.st_mtime) == int(rt.st_mtime):
            return
    tmp = copy.with_name(f".{copy.name}.tmp{os.getpid()}")
    shutil.copy2(real, tmp)  # keeps the modification time
    tmp.replace(copy)


@functools.lru_cache(maxsize=1)
def wordnet() -> Any:
    """An NLTK ``WordNetCorpusReader`` on the local database (cached per process)."""
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = wordnet_root()
    if str(root) not in nltk.data.path:  # NLTK opens files only below its data roots
        nltk.data.path.append(str(root))
    log.info("WordNet from %s (via %s)", source_dir(), root)
    with warnings.catch_warnings():  # no Open Multilingual Wordnet: English only, as wanted
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)


@functools.lru_cache(maxsize=65536)
def synonyms(word: str) -> tuple[str, ...]:
    """WordNet synonyms of ``word`` (lemma names of all its synsets), without ``word`` itself.

    Multi-word lemmas keep their words (``look_into`` → ``look into``); lemmas with
    characters other than letters, spaces, hyphens and apostrophes are dropped. Sorted, so
    that a seeded choice among them is reproducible.
    """
    word = word.lower()
    out: set[str] = set()
    for synset in wordnet().synsets(word):
        for lemma in synset.lemma_names():
            cand = lemma.replace("_", " ").lower()
            if cand != word and all(c.isalpha() or c in " -'" for c in cand):
                out.add(cand)
    return tuple(sorted(out))
