"""PDF export: the print HTML laid out by WeasyPrint.

Pure and synchronous (CPU-bound for seconds on a long project): run it in a thread or a
process. The HTML is self-contained and the URL fetcher refuses every URL, so layout never
touches the network or the file system. WeasyPrint is imported on first use: it loads Pango
and fonts, which a process that never renders a PDF need not pay for.
"""

from __future__ import annotations

from server.exports.model import ExportProject, Progress
from server.exports.render.html import build_html


def render_pdf(project: ExportProject, progress: Progress | None = None) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    report = progress or _ignore
    source = build_html(project)
    report(10)
    html = HTML(string=source, url_fetcher=URLFetcher(allowed_protocols=()))
    document = html.render(presentational_hints=True)  # honours <ol start="3">
    report(90)
    pdf = document.write_pdf()
    report(100)
    return bytes(pdf)


def _ignore(_percent: int) -> None:
    return None
