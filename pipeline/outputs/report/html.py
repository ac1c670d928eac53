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
table { border-collapse: collapse; margin: 0.5em 0; } th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
th { background: #f2f2f2; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; } .warn { color: #a15c00; } .small { font-size: 0.85em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 9px; color: #fff; background: #607d8b; font-weight: bold; }
.badge.cr, .badge.cmr { background: #1a7f37; } .badge.pr, .badge.pmr { background: #4caf50; }
.badge.sd, .badge.smd { background: #9e9e9e; } .badge.pd, .badge.pmd { background: #d32f2f; }
.plots img { margin: 0 1em 1em 0; border: 1px solid #ddd; }
.qc { display: flex; flex-wrap: wrap; gap: 10px; } .qc figure { margin: 0; } .qc figcaption { font-size: 0.85em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""


def text(value: object) -> str:
    return escape(str(value), quote=True)


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


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] | None = None) -> str:
    """A table; ``headers`` are text, cells are HTML (escape them with :func:`text`)."""
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{text(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>" for c, n in zip(row, numeric, strict=True))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
