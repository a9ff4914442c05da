"""Word export: python-docx, walking each phase's ProseMirror JSON directly.

Title page, a table-of-contents field (cached with the chapter list; Word refreshes it on
open), one "Heading 1" chapter per phase with content headings one level down, real list
styles, quotes, code blocks, runs for marks and hyperlinks for links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from io import BytesIO
from typing import Any, Final
from urllib.parse import urlsplit

from docx import Document as new_document
from docx.document import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from collab.content import as_blocks, holds_inline, list_items, text_of
from collab.content.attrs import heading_level, link_href, list_start
from server.exports.model import ExportPhase, ExportProject, Progress
from server.exports.render import ooxml
from server.exports.render.labels import chapter_title, status_label, timestamp

Node = dict[str, Any]

MONO_FONT: Final = "Courier New"
CODE_STYLE: Final = "Code Block"
_LINK_SCHEMES: Final = frozenset({"http", "https", "mailto"})
_MAX_LIST_STYLE: Final = 3  # "List Bullet 3" is the deepest built-in list style
_MUTED: Final = RGBColor(0x55, 0x55, 0x55)


def render_docx(project: ExportProject, progress: Progress | None = None) -> bytes:
    report = progress or _ignore
    document = new_document()
    _prepare(document)
    _title_page(document, project)
    _contents(document, project.phases)
    report(10)
    for done, phase in enumerate(project.phases, start=1):
        _chapter(document, phase)
        report(10 + 80 * done // len(project.phases))
    buffer = BytesIO()
    document.save(buffer)
    report(100)
    return buffer.getvalue()


def _ignore(_percent: int) -> None:
    return None


def _prepare(document: Document) -> None:
    code = document.styles.add_style(CODE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    code.base_style = document.styles["Normal"]
    code.font.name = MONO_FONT
    code.font.size = Pt(9)
    code.paragraph_format.left_indent = Pt(12)
    code.paragraph_format.space_after = Pt(8)
    footer = document.sections[0].footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    ooxml.add_field(footer, "PAGE").text = "1"
    ooxml.update_fields_on_open(document)


def _title_page(document: Document, project: ExportProject) -> None:
    document.add_paragraph(ooxml.clean(project.name), style="Title")
    if project.description:
        document.add_paragraph(ooxml.clean(project.description), style="Subtitle")
    for member in project.members:
        line = document.add_paragraph()
        line.add_run(ooxml.clean(member.display_name)).bold = True
        line.add_run(f" — {ooxml.clean(member.role)}")
    _muted(document.add_paragraph(), f"Template: {ooxml.clean(project.template)}")
    _muted(document.add_paragraph(), f"Generated {timestamp(project.generated_at)}")


def _contents(document: Document, phases: Iterable[ExportPhase]) -> None:
    heading = document.add_paragraph("Contents", style="TOC Heading")
    heading.paragraph_format.page_break_before = True
    titles = [ooxml.clean(chapter_title(phase)) for phase in phases]
    cached = ooxml.add_field(document.add_paragraph(), 'TOC \\o "1-1" \\h \\z \\u')
    for index, title in enumerate(titles):
        if index:
            cached.add_break()
        cached.add_text(title)


def _chapter(document: Document, phase: ExportPhase) -> None:
    heading = document.add_paragraph(ooxml.clean(chapter_title(phase)), style="Heading 1")
    heading.paragraph_format.page_break_before = True
    _muted(document.add_paragraph(), status_label(phase.status).upper()).font.size = Pt(8)
    if phase.description:
        _muted(document.add_paragraph(), ooxml.clean(phase.description)).italic = True
    _Blocks(document).children(phase.content, _Context())


def _muted(paragraph: Paragraph, text: str) -> Run:
    run = paragraph.add_run(text)
    run.font.color.rgb = _MUTED
    return run


@dataclass(frozen=True, slots=True)
class _Context:
    style: str | None = None  # paragraph style outside lists ("Quote" inside a blockquote)
    depth: int = 0  # list nesting


class _Blocks:
    """Appends one phase's block nodes to the document."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._handlers: dict[str, Callable[[Node, _Context], None]] = {
            "paragraph": self._plain,
            "heading": self._heading,
            "bulletList": lambda node, ctx: self._list(node, ctx, ordered=False),
            "orderedList": lambda node, ctx: self._list(node, ctx, ordered=True),
            "blockquote": lambda node, ctx: self.children(node, replace(ctx, style="Quote")),
            "codeBlock": lambda node, _ctx: self._code(node),
            "horizontalRule": lambda _node, _ctx: ooxml.bottom_border(self.paragraph({}, None)),
        }

    def children(self, node: Node, ctx: _Context) -> None:
        if holds_inline(node):
            self.paragraph(node, ctx.style)  # a node we do not know, holding text: its text
            return
        for child in as_blocks(node.get("content") or []):
            handler = self._handlers.get(str(child.get("type")), self.children)
            handler(child, ctx)

    def _plain(self, node: Node, ctx: _Context) -> None:
        self.paragraph(node, ctx.style)

    def paragraph(self, node: Node, style: str | None) -> Paragraph:
        paragraph = self._document.add_paragraph(style=style)
        _inline(paragraph, node.get("content") or [])
        return paragraph

    def _heading(self, node: Node, _ctx: _Context) -> None:
        self.paragraph(node, f"Heading {heading_level(node) + 1}")

    def _code(self, node: Node) -> None:
        self._document.add_paragraph(style=CODE_STYLE).add_run(ooxml.clean(text_of(node)))

    def _list(self, node: Node, ctx: _Context, *, ordered: bool) -> None:
        level = min(ctx.depth + 1, _MAX_LIST_STYLE)
        suffix = f" {level}" if level > 1 else ""
        styles = (f"List {'Number' if ordered else 'Bullet'}{suffix}", f"List Continue{suffix}")
        num_id = None
        if ordered:
            num_id = ooxml.restart_numbering(self._document, styles[0], list_start(node))
        inner = replace(ctx, depth=ctx.depth + 1)
        for item in list_items(node):
            self._item(item, inner, styles, num_id)

    def _item(
        self, item: Node, inner: _Context, styles: tuple[str, str], num_id: int | None
    ) -> None:
        first = True
        for child in as_blocks(item.get("content") or []):
            if child.get("type") != "paragraph":
                self._handlers.get(str(child.get("type")), self.children)(child, inner)
                continue
            paragraph = self.paragraph(child, styles[0] if first else styles[1])
            if first and num_id is not None:
                ooxml.set_numbering(paragraph, num_id)
            first = False


def _inline(paragraph: Paragraph, nodes: list[Node]) -> None:
    for node in nodes:
        if node.get("type") == "hardBreak":
            paragraph.add_run().add_break()
            continue
        marks = {str(m.get("type")): m for m in node.get("marks") or []}
        run = paragraph.add_run(ooxml.clean(text_of(node)))  # not text: its text
        run.bold = True if "bold" in marks else None
        run.italic = True if "italic" in marks else None
        run.font.strike = True if "strike" in marks else None
        run.font.underline = True if "underline" in marks else None
        if "code" in marks:
            run.font.name = MONO_FONT
        href = _safe_href(link_href(marks.get("link", {})))
        if href:
            ooxml.add_hyperlink(paragraph, run, href)


def _safe_href(href: str) -> str:
    try:
        scheme = urlsplit(href.strip()).scheme.lower()
    except ValueError:
        return ""
    return href.strip() if scheme in _LINK_SCHEMES else ""
