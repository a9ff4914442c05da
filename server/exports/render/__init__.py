"""Export renderers: a project snapshot in, file bytes out.

    render("pdf" | "docx" | "json", project, progress) -> (bytes, content type, extension)

Pure and synchronous, no I/O: PDF layout takes seconds on a long project, so callers run
these in a worker thread or process. `progress` receives percentages as rendering advances.
"""

from __future__ import annotations

from typing import Final, Literal

from server.exports.model import ExportProject, Progress
from server.exports.render.docx import render_docx
from server.exports.render.json import render_json
from server.exports.render.pdf import render_pdf
from server.exports.render.schema import JSON_SCHEMA

ExportFormat = Literal["pdf", "docx", "json"]

CONTENT_TYPES: Final[dict[ExportFormat, str]] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
}


def render(
    format: ExportFormat, project: ExportProject, progress: Progress | None = None
) -> tuple[bytes, str, str]:
    """The file's bytes, its content type and its extension (without the dot)."""
    if format == "pdf":
        data = render_pdf(project, progress)
    elif format == "docx":
        data = render_docx(project, progress)
    elif format == "json":
        data = render_json(project)
        if progress is not None:
            progress(100)
    else:
        raise ValueError(f"unknown export format: {format!r}")
    return data, CONTENT_TYPES[format], format


__all__ = [
    "CONTENT_TYPES",
    "JSON_SCHEMA",
    "ExportFormat",
    "render",
    "render_docx",
    "render_json",
    "render_pdf",
]
