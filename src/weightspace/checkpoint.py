"""Weight files: the one safe state-dict reader and the file digest, below every stage.

``data``, ``models``, ``spectral``, ``train`` and ``diversity`` all read weights through
here, so a checkpoint's key rule is the same everywhere.
"""

from __future__ import annotations

import hashlib
import os


def file_digest(path: str | os.PathLike[str], length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]
