"""A dry run's diff as a person or a program reads it: `text` (a headline and an aligned table), `json` (totals and
the changes per contact) or `csv` (one row per contact and property, cells a spreadsheet will not run).
"""

from __future__ import annotations

import csv
import io

import orjson

from kpi.report import inert
from sync.preview import WritePreview

FORMATS = ("text", "json", "csv")
NEVER_WRITTEN = "(none)"  # the text form of an old value kpi-sync never wrote


def render(preview: WritePreview, fmt: str, *, run_id: int) -> str:
    """The diff of one dry run in `fmt` (one of FORMATS)."""
    if fmt == "json":
        document = {"dry_run": True, "run_id": run_id, **preview.to_json()}
        return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        return _csv(preview)
    return _text(preview)


def headline(preview: WritePreview) -> str:
    """What the dry run found, in one line, saying that nothing was kept or written."""
    if not preview.contacts:
        return "dry run: no KPI value would change (nothing was stored or written)"
    more = " (--limit to show more)" if preview.truncated else ""
    return f"dry run: {preview.headline()}{more}; nothing was stored or written"


def _text(preview: WritePreview) -> str:
    header = ["contact", "property", "old", "new"]
    rows = [[str(c.contact_id), c.property, NEVER_WRITTEN if c.old is None else c.old, c.new] for c in preview.changes]
    if not rows:
        return headline(preview)
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join([headline(preview), *lines])


def _csv(preview: WritePreview) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["contact_id", "property", "old", "new"])
    for change in preview.changes:
        writer.writerow([str(change.contact_id), change.property, inert(change.old or ""), inert(change.new)])
    return buffer.getvalue()
