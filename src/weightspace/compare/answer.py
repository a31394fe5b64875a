"""The comparison's first answer in one paragraph: where data diversity's ΔΔ profile sits
between the two reference categories (θ, with where no change at all would sit), whether
its shape alone is closer to one of them (cosines, whatever its size), and whether each
moved the spectra — with the headline family's Holm-adjusted p-values and the power."""

from __future__ import annotations

import math

import pandas as pd

from weightspace.compare.wording import (
    ALPHA,
    finite,
    fmt_p,
    interval_text,
    name_of,
    pct,
    power_of,
)

DIV = "div"
ONE_SEED = "not tested (one seed"


def _references(fp: pd.DataFrame) -> list[str]:
    """The reference categories in the fingerprint's order: the first at θ = 0, the
    second at θ = 1 (:func:`weightspace.compare.fingerprint.position_rows` keeps it)."""
    rows = fp[(fp["level"] == "category") & (fp["role"] == "reference")]
    return [str(n) for n in rows["name"]]


def _num(row: pd.Series, column: str) -> float:
    value = row.get(column, math.nan)
    return float(value) if finite(value) else math.nan


def _zero_clause(div: pd.Series, *, with_interval: bool = True) -> str:
    """Where the zero profile sits on the same axis, so that "near the first reference"
    can be read against "small"."""
    zero = _num(div, "theta_zero")
    if not math.isfinite(zero):
        return ""
    low, high = _num(div, "theta_zero_low"), _num(div, "theta_zero_high")
    band = f" [{low:.2f}, {high:.2f}]" if with_interval and math.isfinite(low) else ""
    text = f"no change at all would sit at θ₀ = {zero:.2f}{band}"
    ci_low, ci_high = _num(div, "ci_low"), _num(div, "ci_high")
    if math.isfinite(ci_low) and ci_low <= zero <= ci_high:
        text += ", inside its interval, so θ alone cannot tell it from no change"
    return text


def _axis(refs: list[str]) -> str:
    if len(refs) != 2:
        return "reference"
    return f"{name_of(refs[0])} (0) → {name_of(refs[1])} (1)"


def _position(div: pd.Series, refs: list[str], power: pd.DataFrame | None) -> str:
    axis = _axis(refs)
    theta = _num(div, "theta")
    if not math.isfinite(theta):
        return (f"Data diversity cannot be placed on the {axis} axis of ΔΔ profiles "
                f"({div.get('ci_reason') or 'no references'})")  # fmt: skip
    low, high = _num(div, "ci_low"), _num(div, "ci_high")
    where = interval_text(low, high, str(div.ci_reason))
    zero = _zero_clause(div)
    lead = f"Data diversity sits at θ = {theta:.2f} ({where}) on the {axis} axis of ΔΔ profiles"
    p_axis = _num(div, "p_axis_adj")
    tested = f"Holm {fmt_p(p_axis)}, power {pct(power_of(power, 'div: closer to one reference'))}"
    if not math.isfinite(p_axis):
        found = f"its position is not tested ({div.verdict})"
    elif p_axis < ALPHA and len(refs) == 2:
        near, other = (refs[0], refs[1]) if theta < 0.5 else (refs[1], refs[0])
        found = f"closer to {name_of(near)} than to {name_of(other)} ({tested})"
    else:
        found = f"no evidence that it is closer to either ({tested})"
    if not zero:
        return f"{lead}: {found}"
    return f"{lead}: {found}; {'but ' if 'inside its interval' in zero else ''}{zero}"


def _shape(tables: dict[str, pd.DataFrame]) -> str:
    """The size-free clause: data diversity's cosines with each reference's profile."""
    shape = tables.get("axis_shape")
    if shape is None or shape.empty:
        return ""
    rows = shape[(shape["level"] == "category") & (shape["name"] == DIV)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    a, b = name_of(str(row.ref_a)), name_of(str(row.ref_b))
    lead = "Its shape alone (whatever its size)"
    p_adj = _num(row, "p_adj")
    if not math.isfinite(p_adj):
        return f"{lead}, is not tested: {row.ci_reason or row.verdict}"
    cos_a, cos_b = _num(row, "cos_ref_a"), _num(row, "cos_ref_b")
    low, high = _num(row, "ci_low"), _num(row, "ci_high")
    reason = f"no interval: {row.ci_reason}" if row.ci_reason else ""
    ci = interval_text(low, high, reason)
    if math.isfinite(cos_a):
        cosines = (f"cosine {cos_a:.2f} with {a}'s profile, {cos_b:.2f} with {b}'s "
                   f"(difference {_num(row, 'diff'):.2f}, {ci})")  # fmt: skip
    else:
        cosines = f"cosines not estimated ({row.ci_reason})"
    shape_power = pct(power_of(tables.get("power"), "div: shape closer to one reference"))
    tested = f"Holm {fmt_p(p_adj)}, power {shape_power}"
    if p_adj < ALPHA:
        near, other = (a, b) if _num(row, "t") > 0 else (b, a)
        return f"{lead}: {cosines}, closer to {near}'s than to {other}'s ({tested})"
    return f"{lead}: {cosines}; no evidence that its shape is closer to either ({tested})"


def _moved(cats: pd.DataFrame, names: list[str], power: pd.DataFrame | None) -> str:
    """Whether each category moved the spectra; one clause when all share the answer."""
    found = []
    for cat in (c for c in names if c in cats.index):
        p = _num(cats.loc[cat], "p_moved_adj")
        found.append((cat, p, pct(power_of(power, f"{cat}: moved the spectra"))))
    tested = [f for f in found if math.isfinite(f[1])]
    if len(tested) > 1 and len(tested) == len(found) and all(p < ALPHA for _, p, _ in tested) \
            and len({(fmt_p(p), pw) for _, p, pw in tested}) == 1:  # fmt: skip
        _, p, pw = tested[0]
        names_ = [name_of(c) for c, _, _ in tested]
        listed = ", ".join(names_[:-1]) + " and " + names_[-1]
        return f"{listed} each moved the spectra (Holm {fmt_p(p)}, power {pw} each)"
    out = []
    for cat, p, pw in found:
        if not math.isfinite(p):
            out.append(f"whether {name_of(cat)} moved the spectra is untested "
                       f"({cats.loc[cat].verdict})")  # fmt: skip
            continue
        what = "moved the spectra" if p < ALPHA else "did not detectably move the spectra"
        out.append(f"{name_of(cat)} {what} (Holm {fmt_p(p)}, power {pw})")
    return "; ".join(out)


def _one_seed(div: pd.Series, axis: str) -> str:
    """Nothing can be tested: θ and θ₀ as descriptions only."""
    text = ("The study has one seed per condition, so there is no noise estimate and nothing "
            "can be tested")  # fmt: skip
    theta = _num(div, "theta")
    if not math.isfinite(theta):
        return text + "."
    zero = _zero_clause(div, with_interval=False)
    zero = f"; {zero}" if zero else ""
    return (f"{text}. Descriptively (no interval, no p-value), data diversity's profile sits at "
            f"θ = {theta:.2f} on the {axis} axis of ΔΔ profiles{zero}.")  # fmt: skip


def axis_sentence(tables: dict[str, pd.DataFrame]) -> str:
    """Where data diversity sits between the two references, whether its shape alone is
    closer to one of them, and whether each moved the spectra, with the headline family's
    Holm-adjusted p-values and the power."""
    fp = tables.get("fingerprint", pd.DataFrame())
    if fp.empty:
        return "The fingerprint could not be computed (no ΔΔ profile observed for every condition)."
    cats = fp[fp["level"] == "category"].set_index("name")
    if DIV not in cats.index:
        return "No data-diversity conditions: the paper's question cannot be asked."
    div = cats.loc[DIV]
    refs = _references(fp)
    if str(div.verdict).startswith(ONE_SEED):
        return _one_seed(div, _axis(refs))
    power = tables.get("power")
    parts = [_position(div, refs, power)]
    shape = _shape(tables)
    if shape:
        parts.append(shape)
    moved = _moved(cats, [DIV, *refs], power)
    parts.append(moved[:1].upper() + moved[1:])
    text = ". ".join(p for p in parts if p) + "."
    for ref in refs:
        p = _num(cats.loc[ref], "p_moved_adj") if ref in cats.index else math.nan
        if math.isfinite(p) and p >= ALPHA:
            text += (f" {name_of(ref).capitalize()} itself did not detectably move the spectra, "
                     f"so \"closer to {name_of(ref)}\" cannot be told from \"no effect\" here.")  # fmt: skip
    n = _num(div, "n_family")
    size = int(n) if math.isfinite(n) else 0
    return text + f" (Headline family: {size} tests, Holm.)"
