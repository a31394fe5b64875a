"""Self-contained HTML: inline CSS, figures as base64 PNG data URIs, no scripts, no URLs.

A report is a list of :class:`Section`; a section holds blocks (paragraphs, bullet lists,
answers, figures, tables) rendered in order; a folded section opens on click (``<details>``,
no script). A section function returns figures as :class:`Plot` (a figure not yet encoded);
the report's writer turns each into a :class:`FigureBlock`. Everything user-provided is
HTML-escaped.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

import pandas as pd

from weightspace.report._style import png_data_uri

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    css: str = "conclusions"
    fold_after: int = 0  # > 0: items beyond this many go into a collapsed <details>


@dataclass(frozen=True)
class Answers:
    """The report's headline: ``(id, question, answer)`` per question, in order."""

    items: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Plot:
    """A figure a section function made, encoded (and written to disk) by the report."""

    name: str  # file stem under figures/
    figure: Figure
    caption: str = ""


@dataclass(frozen=True)
class FigureBlock:
    name: str  # file stem under figures/
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class TableBlock:
    table: pd.DataFrame
    title: str = ""
    max_rows: int = 60
    collapsed: bool = False  # inside a <details> element (opens on click, no script)


Block = Paragraph | Bullets | Answers | Plot | FigureBlock | TableBlock


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    folded: bool = True  # behind a <details> fold: everything but the first screen

    def add(self, block: Block) -> Section:
        self.blocks.append(block)
        return self


def format_value(v: object) -> str:
    """Numbers with 4 decimals (scientific outside [1e-3, 1e4)), NaN as an em dash."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) or hasattr(v, "dtype"):
        try:
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(v)
        if math.isnan(x):
            return "—"
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == int(x) and abs(x) < 1e6 and "int" in str(getattr(v, "dtype", "")):
            return str(int(x))
        if x == 0 or 1e-3 <= abs(x) < 1e4:
            return f"{x:.4f}"
        return f"{x:.3e}"
    return str(v)


def table_html(table: pd.DataFrame, *, max_rows: int = 60) -> str:
    shown = table.head(max_rows)
    index_named = any(n is not None for n in shown.index.names)
    if index_named:
        shown = shown.reset_index()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = []
        for v in rec:
            text = format_value(v)
            numeric = isinstance(v, (int, float)) or hasattr(v, "dtype")
            cls = "" if numeric and not isinstance(v, bool) else ' class="text"'
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(table) > max_rows:
        more = f'<p class="note">first {max_rows} of {len(table)} rows</p>'
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{more}"
    )


def _block_html(block: Block) -> str:
    if isinstance(block, Plot):
        raise TypeError(f"figure {block.name!r} was not encoded (build_report encodes Plots)")
    if isinstance(block, Answers):
        items = "".join(
            f'<li id="answer-{html.escape(key, quote=True)}"><strong>{html.escape(question)}'
            f"</strong> {html.escape(text)}</li>"
            for key, question, text in block.items
        )
        return f'<ol class="answers">{items}</ol>'
    if isinstance(block, Paragraph):
        cls = ' class="note"' if block.note else ""
        return f"<p{cls}>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        cut = block.fold_after if 0 < block.fold_after < len(block.items) else len(block.items)
        shown = "".join(f"<li>{html.escape(t)}</li>" for t in block.items[:cut])
        out = f'<ul class="{block.css}">{shown}</ul>'
        if cut < len(block.items):
            rest = "".join(f"<li>{html.escape(t)}</li>" for t in block.items[cut:])
            out += (
                f"<details><summary>{len(block.items) - cut} more</summary>"
                f'<ul class="{block.css}">{rest}</ul></details>'
            )
        return out
    if isinstance(block, FigureBlock):
        cap = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
        alt = html.escape(block.caption or block.name, quote=True)
        return (
            f'<figure id="fig-{html.escape(block.name, quote=True)}">'
            f'<img alt="{alt}" src="{png_data_uri(block.png)}">{cap}</figure>'
        )
    body = table_html(block.table, max_rows=block.max_rows)
    if block.collapsed:
        label = html.escape(block.title or "table")
        return f"<details><summary>{label} ({len(block.table)} rows)</summary>{body}</details>"
    title = f"<h3>{html.escape(block.title)}</h3>" if block.title else ""
    return title + body


def _section_html(section: Section) -> str:
    sid = html.escape(section.id, quote=True)
    title = f"<h2>{html.escape(section.title)}</h2>"
    inner = "".join(_block_html(b) for b in section.blocks)
    if section.folded:
        return f'<section id="{sid}"><details><summary>{title}</summary>{inner}</details></section>'
    return f'<section id="{sid}">{title}{inner}</section>'


def render_html(title: str, subtitle: str, sections: list[Section]) -> str:
    css = resources.files("weightspace.report").joinpath("report.css").read_text()
    nav = "".join(
        f'<a href="#{html.escape(s.id, quote=True)}">{html.escape(s.title)}</a>' for s in sections
    )
    body = "".join(_section_html(s) for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{css}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
