"""The port's tally of WeightWatcher's tests (``tests/ww_port_tally.py``) is complete, points
at port tests that exist, and is the table docs/weightwatcher.md shows."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from ww_port_tally import CLASS_SIZES, DELIBERATE, IDENTICAL, LEFT_OUT, TALLY, counts

TESTS = Path(__file__).parent
DOC = TESTS.parent / "docs" / "weightwatcher.md"


def test_every_original_test_has_one_entry() -> None:
    assert list(TALLY) == list(CLASS_SIZES)
    for cls, tests in TALLY.items():
        assert len(tests) == CLASS_SIZES[cls], cls
        assert all(name.startswith("test") for name in tests), cls
        assert all(s in (IDENTICAL, DELIBERATE, LEFT_OUT) and w for s, w in tests.values()), cls
    assert sum(CLASS_SIZES.values()) == 379


@functools.cache
def _functions(module: str) -> set[str]:
    tree = ast.parse((TESTS / f"{module}.py").read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_ported_entries_name_existing_port_tests() -> None:
    for cls, tests in TALLY.items():
        for name, (status, where) in tests.items():
            if status == LEFT_OUT:
                assert "::" not in where, (cls, name)
                continue
            module, function = where.split("::")
            assert function.startswith("test_"), (cls, name)
            assert function in _functions(module), (cls, name, where)


def _doc_table() -> dict[str, tuple[int, int, int]]:
    text = DOC.read_text()
    block = text.split("<!-- port-tally -->")[1].split("<!-- /port-tally -->")[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.fullmatch(r"`?\w+`?", cells[0]) and cells[1].isdigit():
            rows[cells[0].strip("`")] = (int(cells[2]), int(cells[3]), int(cells[4]))
    return rows


def test_docs_table_matches_the_tally() -> None:
    table = _doc_table()
    assert table == counts()
    totals = [sum(c[i] for c in counts().values()) for i in range(3)]
    assert f"**{sum(totals)}**" in DOC.read_text()
    for total in totals:
        assert f"**{total}**" in DOC.read_text()
