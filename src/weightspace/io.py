"""File helpers of the study store, under their older import path.

New code imports :mod:`weightspace.store`, which also knows the study layout.
"""

from weightspace.store.files import (
    COMPLETE,
    INCOMPLETE_TAG,
    atomic_dir,
    clean_incomplete,
    is_complete,
    read_json,
    read_table,
    write_json,
    write_table,
)

__all__ = [
    "COMPLETE",
    "INCOMPLETE_TAG",
    "atomic_dir",
    "clean_incomplete",
    "is_complete",
    "read_json",
    "read_table",
    "write_json",
    "write_table",
]
