"""The reports as one static, self-contained HTML file.

One file a person can mail or archive: inline CSS, no JavaScript, nothing fetched from
anywhere (a Content-Security-Policy in the file says so to the browser too). The document is
built as an lxml element tree, so every piece of text is escaped by the serializer, never by
hand. Reports are aggregates: no debtor, invoice number or reference is in them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lxml import etree
from lxml.html import builder as E
from lxml.html import tostring

from claimbridge import __version__
from claimbridge.report.common import Filters
from claimbridge.report.render import Section, Table, sections

__all__ = ["render_html", "write_html"]

POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"

STYLE = """
:root { color-scheme: light dark; --rule: #8884; --muted: #777; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 2rem auto; max-width: 78rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid var(--rule); }
.scope, .note, footer { color: var(--muted); }
table { border-collapse: collapse; margin: .8rem 0 1.4rem; }
caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { text-align: left; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.empty { font-style: italic; color: var(--muted); }
nav a { margin-right: 1rem; }
"""


def render_html(
    reports: Mapping[str, Any],
    filters: Filters,
    *,
    as_of: dt.date,
    generated_at: dt.datetime,
) -> str:
    """The whole document as text."""
    drawn = sections(reports)
    scope = [f"as of {as_of.isoformat()}"]
    scope.append(f"pipeline {filters.pipeline}" if filters.pipeline else "all pipelines")
    if filters.since or filters.until:
        since = filters.since.isoformat() if filters.since else "the start"
        until = filters.until.isoformat() if filters.until else "today"
        scope.append(f"period {since} to {until}")
    document = E.HTML(
        E.HEAD(
            E.META(charset="utf-8"),
            E.META(**{"http-equiv": "Content-Security-Policy", "content": POLICY}),
            E.META(name="viewport", content="width=device-width, initial-scale=1"),
            E.META(name="referrer", content="no-referrer"),
            E.TITLE("claimbridge report"),
            E.STYLE(STYLE),
        ),
        E.BODY(
            E.HEADER(
                E.H1("claimbridge report"),
                E.P(E.CLASS("scope"), " · ".join(scope)),
                E.NAV(*(E.A(s.title, href=f"#{s.key}") for s in drawn)),
            ),
            E.MAIN(*(_section(s) for s in drawn)),
            E.FOOTER(
                E.P(
                    f"Written by claimbridge {__version__} on "
                    f"{generated_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC. "
                    "Aggregates only: no debtor, invoice or reference is shown."
                )
            ),
        ),
        lang="en",
    )
    html: str = tostring(document, doctype="<!DOCTYPE html>", encoding="unicode", pretty_print=True)
    return html


def _section(section: Section) -> etree._Element:
    return E.SECTION(
        E.H2(section.title),
        E.P(section.about),
        *(_table(t) for t in section.tables),
        *(E.P(E.CLASS("note"), note) for note in section.notes),
        id=section.key,
    )


def _table(table: Table) -> etree._Element:
    if not table.rows:
        return E.P(E.CLASS("empty"), f"{table.title}: {table.empty}")
    return E.TABLE(
        E.CAPTION(table.title),
        E.THEAD(
            E.TR(
                *(
                    E.TH(c.heading, scope="col", **({"class": "num"} if c.numeric else {}))
                    for c in table.columns
                )
            )
        ),
        E.TBODY(
            *(
                E.TR(
                    *(
                        E.TD(cell, **({"class": "num"} if column.numeric else {}))
                        for cell, column in zip(row, table.columns, strict=True)
                    )
                )
                for row in table.rows
            )
        ),
    )


def write_html(path: Path, document: str) -> None:
    """Write ``document`` to ``path`` whole or not at all (a temporary file, then a rename).

    The file is the owner's alone (0600): it holds the creditor's business figures."""
    path = path.resolve()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(document)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
