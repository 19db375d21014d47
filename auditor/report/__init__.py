"""Reports people read: one `ReportData` collected from a store, rendered as a self-contained
HTML page, Markdown, or JSON (see `write_report`)."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.output_files import OutputPathError, check_output_path, write_text_atomic
from auditor.report.data import ReportData

FORMATS = ("html", "md", "json")


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the file extension."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    ext = Path(path).suffix.lower().lstrip(".")
    ext = {"htm": "html", "markdown": "md"}.get(ext, ext)
    if ext not in FORMATS:
        raise ValueError(f"cannot tell the report format from {str(path)!r}: use a .html, .md or "
                         f".json name, or --format")
    return ext


def write_report(data: ReportData, path: str | Path, fmt: str | None = None) -> Path:
    """Render `data` to `path` in `fmt` (or by extension); returns the path written.

    Markdown also writes its plots into `<stem>_files/` beside the file. Only a regular file is
    replaced, through a temporary file beside it (`auditor.output_files`).
    """
    path = check_output_path(path)
    fmt = format_for(path, fmt)
    if fmt == "html":
        from auditor.report.html import render_html

        text = render_html(data)
    elif fmt == "md":
        from auditor.report.markdown import render_markdown

        text = render_markdown(data, plot_dir=path.parent / f"{path.stem}_files")
    else:
        text = json.dumps(data.to_dict(), indent=2, default=str) + "\n"
    return write_text_atomic(path, text)


__all__ = ["FORMATS", "OutputPathError", "ReportData", "check_output_path", "format_for",
           "write_report"]
