"""Small HTML building blocks for the reports: escaped text, tables, embedded images, the page frame.

Every image is a ``data:`` URI and the page has no script, no external style
sheet, font or icon: opening it fetches nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.5em; color: #222; font-size: 14px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; margin: 0.4em 0 1em; width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; overflow-wrap: break-word; }
th { background: #f2f2f2; text-align: left; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.non-target td { background: #f7f7f7; color: #444; }
.id { overflow-wrap: anywhere; word-break: break-all; } li, p { overflow-wrap: anywhere; }
.nowrap { white-space: nowrap; } .muted { color: #666; } .warn { color: #a15c00; } .small { font-size: 0.85em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 9px; color: #fff; background: #607d8b; font-weight: bold; }
.badge.cr, .badge.cmr { background: #1a7f37; } .badge.pr, .badge.pmr { background: #4caf50; }
.badge.sd, .badge.smd { background: #757575; } .badge.pd, .badge.pmd { background: #d32f2f; }
.summary { border: 2px solid #455a64; border-radius: 6px; padding: 0.2em 1em 0.6em; margin: 1em 0; background: #fbfcfd; }
.summary h2 { margin-top: 0.6em; }
.notice { border-left: 4px solid #a15c00; padding: 0.3em 0.8em; background: #fff8ec; }
.plots img, .qc img, figure img { max-width: 100%; height: auto; }
.plots img { margin: 0 1em 1em 0; border: 1px solid #ddd; }
.qc { display: flex; flex-wrap: wrap; gap: 10px; } .qc figure { margin: 0; max-width: 100%; } .qc figcaption { font-size: 0.85em; }
dl.criteria dt { font-weight: 600; margin-top: 0.5em; } dl.criteria dd { margin-left: 1.2em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; overflow-wrap: anywhere; }
@page { size: A4; margin: 12mm 10mm 14mm;
  @bottom-left { content: "lesion-pipeline report"; font-size: 8pt; color: #666; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 8pt; color: #666; } }
@media print {
  body { margin: 0; font-size: 8.5pt; }
  h2, h3, h4 { break-after: avoid; }
  tr, figure, img, .summary { break-inside: avoid; }
  thead { display: table-header-group; }
  .plots img { max-width: 48%; }
  a { color: inherit; text-decoration: none; }
  details > *:not(summary) { display: block; }
}
"""


def text(value: object) -> str:
    return escape(str(value), quote=True)


def ident(value: object) -> str:
    """A long identifier (UID, path) that may break anywhere, so that it never widens its table."""
    return f'<span class="id">{text(value)}</span>'


def png_img(data: bytes, alt: str, width: int | None = None, img_id: str | None = None) -> str:
    """An ``<img>`` with the PNG embedded as a data URI."""
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    attrs = f' width="{width}"' if width else ""
    attrs += f' id="{text(img_id)}"' if img_id else ""
    return f'<img src="{src}" alt="{text(alt)}"{attrs}>'


def badge(category: str) -> str:
    if not category:
        return ""
    return f'<span class="badge {text(category.lower())}">{text(category)}</span>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
    table_id: str | None = None,
) -> str:
    """A table; ``headers`` are text, cells are HTML (escape them with :func:`text`)."""
    numeric = numeric or [False] * len(headers)
    head = "".join(
        f'<th class="num">{text(h)}</th>' if n else f"<th>{text(h)}</th>" for h, n in zip(headers, numeric, strict=True)
    )
    rows = list(rows)
    classes = row_classes or [""] * len(rows)
    body = "".join(
        (f'<tr class="{text(k)}">' if k else "<tr>")
        + "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>" for c, n in zip(row, numeric, strict=True))
        + "</tr>"
        for row, k in zip(rows, classes, strict=True)
    )
    attrs = f' id="{text(table_id)}"' if table_id else ""
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def items(lines: Iterable[str], css_class: str = "") -> str:
    """An unordered list of HTML items (empty string for no items)."""
    body = "".join(f"<li>{line}</li>" for line in lines)
    return f'<ul class="{css_class}">{body}</ul>' if body else ""


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{text(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
