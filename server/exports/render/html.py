"""The print HTML behind the PDF export: title page, contents, one chapter per phase.

Everything not produced by the content converter is escaped here; the converter escapes the
phase content itself. Chapter headings are `h1`, so content headings move one level down.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any, Final

from collab.content import prosemirror_to_html
from collab.content.attrs import attrs_of, heading_level
from server.exports.model import ExportMember, ExportPhase, ExportProject
from server.exports.render.labels import chapter_title, status_label, timestamp

_SANS: Final = '"DejaVu Sans", "Noto Sans CJK SC", sans-serif'
_SERIF: Final = '"DejaVu Serif", "Noto Serif CJK SC", serif'
_MONO: Final = '"DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace'

PRINT_CSS: Final = f"""
@page {{
  size: A4;
  margin: 22mm 20mm 24mm 20mm;
  @top-right {{ content: string(chapter); font: 8pt {_SANS}; color: #777; }}
  @bottom-center {{ content: counter(page) " / " counter(pages); font: 9pt {_SANS}; color: #555; }}
}}
@page :first {{
  @top-right {{ content: none; }}
  @bottom-center {{ content: none; }}
}}
html {{ font-family: {_SERIF}; font-size: 10.5pt; line-height: 1.45; color: #1a1a1a; }}
h1, h2, h3, h4, h5, h6 {{
  font-family: {_SANS}; line-height: 1.25; color: #111; break-after: avoid;
}}
h1 {{ font-size: 20pt; margin: 0 0 6pt; }}
h2 {{ font-size: 15pt; margin: 16pt 0 6pt; }}
h3 {{ font-size: 12.5pt; margin: 14pt 0 5pt; }}
h4, h5, h6 {{ font-size: 11pt; margin: 12pt 0 4pt; }}
p {{ margin: 0 0 7pt; orphans: 2; widows: 2; }}
a {{ color: #1a4f9c; text-decoration: underline; }}
ul, ol {{ margin: 0 0 7pt; padding-left: 18pt; }}
li {{ margin: 2pt 0; }}
li > p, li > ul, li > ol {{ margin: 0; }}
blockquote {{
  margin: 8pt 0; padding: 2pt 0 2pt 12pt; border-left: 2.5pt solid #bbb;
  color: #333; font-style: italic;
}}
code {{ font-family: {_MONO}; font-size: 0.9em; }}
pre {{
  font-family: {_MONO}; font-size: 8.5pt; line-height: 1.35; white-space: pre-wrap;
  overflow-wrap: anywhere; background: #f4f4f4; border: 0.5pt solid #ddd;
  padding: 6pt 8pt; margin: 0 0 8pt; break-inside: avoid;
}}
pre code {{ font-size: inherit; }}
hr {{ border: none; border-top: 0.6pt solid #999; margin: 12pt 0; }}
.title-page {{ break-after: page; padding-top: 55mm; }}
.title-page h1 {{ font-size: 28pt; bookmark-level: none; overflow-wrap: anywhere; }}
.title-page .description {{ font-size: 12pt; white-space: pre-line; margin: 10pt 0 24pt; }}
.title-page .meta {{ font: 9pt {_SANS}; color: #555; }}
table.members {{ border-collapse: collapse; margin: 8pt 0 18pt; font-size: 10pt; }}
table.members th, table.members td {{
  text-align: left; padding: 3pt 14pt 3pt 0; border-bottom: 0.5pt solid #ccc;
}}
table.members th {{ font-family: {_SANS}; font-size: 9pt; color: #555; }}
nav.toc {{ break-after: page; }}
nav.toc h1 {{ bookmark-level: 1; }}
nav.toc ol {{ list-style: none; padding: 0; }}
nav.toc li {{ margin: 4pt 0; }}
nav.toc a {{ color: inherit; text-decoration: none; }}
nav.toc a::after {{ content: leader(".") target-counter(attr(href), page); }}
section.chapter {{ break-before: page; }}
section.chapter > h1 {{ string-set: chapter content(); }}
.status {{
  display: inline-block; font: 7.5pt {_SANS}; text-transform: uppercase; letter-spacing: 0.05em;
  color: #444; border: 0.6pt solid #888; border-radius: 2pt; padding: 1pt 4pt; margin: 0 0 8pt;
}}
.phase-description {{ font-style: italic; color: #555; white-space: pre-line; }}
.content a[href^="http"]::after {{
  content: " (" attr(href) ")"; font-size: 0.85em; color: #555; overflow-wrap: anywhere;
}}
"""


def build_html(project: ExportProject) -> str:
    """The complete, self-contained HTML document (styles inline, nothing to fetch)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html><head>",
            '<meta charset="utf-8">',
            f"<title>{_text(project.name)}</title>",
            '<meta name="generator" content="Unified Assistant">',
            f'<meta name="dcterms.created" content="{project.generated_at.isoformat()}">',
            f"<style>{PRINT_CSS}</style>",
            "</head><body>",
            _title_page(project),
            _contents(project.phases),
            *(_chapter(index, phase) for index, phase in enumerate(project.phases)),
            "</body></html>",
        ]
    )


def shift_headings(node: dict[str, Any], by: int = 1) -> dict[str, Any]:
    """A copy of `node` with every heading `by` levels deeper (at most h6)."""
    copy = dict(node)
    if node.get("type") == "heading":
        copy["attrs"] = {**attrs_of(node), "level": min(heading_level(node) + by, 6)}
    if isinstance(node.get("content"), list):
        copy["content"] = [shift_headings(child, by) for child in node["content"]]
    return copy


def _text(value: str) -> str:
    return escape(value, quote=True)


def _title_page(project: ExportProject) -> str:
    description = (
        f'<p class="description">{_text(project.description)}</p>' if project.description else ""
    )
    return (
        '<section class="title-page">'
        f"<h1>{_text(project.name)}</h1>{description}"
        f"{_members(project.members)}"
        f'<p class="meta">Template: {_text(project.template)}</p>'
        f'<p class="meta">Generated {_text(timestamp(project.generated_at))}</p>'
        "</section>"
    )


def _members(members: Iterable[ExportMember]) -> str:
    rows = "".join(
        f"<tr><td>{_text(m.display_name)}</td><td>{_text(m.role)}</td></tr>" for m in members
    )
    if not rows:
        return ""
    return f'<table class="members"><tr><th>Member</th><th>Role</th></tr>{rows}</table>'


def _contents(phases: Iterable[ExportPhase]) -> str:
    items = "".join(
        f'<li><a href="#{_anchor(index)}">{_text(chapter_title(phase))}</a></li>'
        for index, phase in enumerate(phases)
    )
    return f'<nav class="toc"><h1>Contents</h1><ol>{items}</ol></nav>'


def _chapter(index: int, phase: ExportPhase) -> str:
    description = (
        f'<p class="phase-description">{_text(phase.description)}</p>' if phase.description else ""
    )
    content = prosemirror_to_html(shift_headings(phase.content))
    return (
        f'<section class="chapter" id="{_anchor(index)}">'
        f"<h1>{_text(chapter_title(phase))}</h1>"
        f'<p class="status status-{_text(phase.status)}">{_text(status_label(phase.status))}</p>'
        f'{description}<div class="content">{content}</div>'
        "</section>"
    )


def _anchor(index: int) -> str:
    return f"phase-{index + 1}"
