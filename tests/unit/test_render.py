"""server.exports.render: PDF, Word and JSON exports read back with pypdf, python-docx, jsonschema."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import docx
import pypdf
import pytest
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]

from collab.content import prosemirror_to_markdown
from collab.content.schema import make_node
from server.exports.model import ExportMember, ExportPhase, ExportProject, ExportVersion
from server.exports.render import JSON_SCHEMA, render, render_docx, render_json, render_pdf
from server.exports.render.html import build_html

Node = dict[str, Any]

with warnings.catch_warnings():
    # Without libharfbuzz-subset WeasyPrint warns once, at import, that it will need it.
    warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
    import weasyprint  # type: ignore[import-untyped]  # noqa: F401

TITLES = [
    "Vision", "Stakeholders", "Requirements", "Constraints", "Architecture", "Data model",
    "Interfaces", "Security", "Testing", "Deployment", "Operations", "Risks", "Budget",
    "Retrospective",
]  # fmt: skip
STATUSES = ["completed", "in_progress", "stale", "not_started"]
UNICODE = "naïve — ü"
CJK = "中文"
T0 = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def text(value: str, *marks: str, href: str | None = None) -> Node:
    node: Node = {"type": "text", "text": value}
    mark_list: list[Node] = [{"type": m} for m in marks]
    if href is not None:
        mark_list.insert(0, {"type": "link", "attrs": {"href": href}})
    if mark_list:
        node["marks"] = mark_list
    return node


def para(*content: Node) -> Node:
    return {"type": "paragraph", "content": list(content)}


def block(kind: str, *content: Node, **attrs: Any) -> Node:
    """A node as the editor writes it: its schema's default attributes filled in."""
    return make_node(kind, attrs, list(content))


def item(*content: Node) -> Node:
    return block("listItem", *content)


def rich_content(key: str, title: str, *, cjk: bool) -> Node:
    """Every node and mark kind; headings and list items name their phase."""
    unicode = f"{UNICODE} {CJK}" if cjk else UNICODE
    return block(
        "doc",
        block("heading", text(f"{title} overview"), level=1),
        para(
            text("Plain, "), text("bold", "bold"), text(", "), text("italic", "italic"),
            text(", "), text("code", "code"), text(", "), text("struck", "strike"),
            text(", "), text("a link", href="https://example.com/docs"), text(" and "),
            text("bold italic", "bold", "italic"), text("."),
        ),
        para(text("Line one"), {"type": "hardBreak"}, text(f"line two: {unicode}")),
        block("heading", text(f"{title} details"), level=2),
        block(
            "bulletList",
            item(para(text(f"{key} bullet one"))),
            item(
                para(text(f"{key} bullet two")),
                block("bulletList", item(para(text(f"{key} nested bullet")))),
                block("orderedList", item(para(text(f"{key} nested step"))), start=1),
            ),
        ),
        block(
            "orderedList",
            item(para(text(f"{key} step three"))),
            item(para(text(f"{key} step four")), para(text("a second paragraph"))),
            start=3,
        ),
        block("blockquote", para(text(f"{key} quoted wisdom"))),
        block("codeBlock", text("def main() -> None:\n    print('<ok> & done')"), language="python"),
        {"type": "horizontalRule"},
        para(text("After the rule.")),
    )  # fmt: skip


def make_project(
    *, name: str = "Atlas Handbook", cjk: bool = True, phases: int = 14
) -> ExportProject:
    members = (
        ExportMember("Ada Lovelace", "ada@example.com", "owner"),
        ExportMember("Zoë Ünal", "zoe@example.com", "editor"),
        ExportMember("Li Wei", "li@example.com", "viewer"),
    )
    return ExportProject(
        id=uuid.UUID(int=1),
        name=name,
        description="A handbook written in fourteen phases.",
        template="default",
        generated_at=T0,
        members=members,
        phases=tuple(make_phase(n, TITLES[(n - 1) % 14], cjk=cjk) for n in range(1, phases + 1)),
    )


def make_phase(number: int, title: str, *, cjk: bool, content: Node | None = None) -> ExportPhase:
    key = f"p{number:02d}"
    doc = content if content is not None else rich_content(key, title, cjk=cjk)
    version = ExportVersion(uuid.UUID(int=100 + number), f"v{number}", "manual", T0)
    return ExportPhase(
        number=number,
        key=key,
        title=title,
        description=f"What {title.lower()} covers.",
        status=STATUSES[number % len(STATUSES)],
        updated_at=T0 + timedelta(hours=number),
        content=doc,
        markdown=prosemirror_to_markdown(doc),
        versions=(version,),
    )


def chapter(phase: ExportPhase) -> str:
    return f"{phase.number}. {phase.title}"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --- PDF ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_run() -> Iterator[tuple[ExportProject, list[str], list[int], list[logging.LogRecord]]]:
    # No CJK here: without a CJK font WeasyPrint gives the font a custom encoding CMap for the
    # missing glyphs, which pypdf cannot decode (all text in that font comes back garbled).
    project = make_project(cjk=False)
    handler = _Records()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    steps: list[int] = []
    try:
        pdf = render_pdf(project, steps.append)
    finally:
        logger.removeHandler(handler)
    pages = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]
    yield project, pages, steps, handler.records


def test_pdf_title_page_and_progress(pdf_run: Any) -> None:
    project, pages, steps, records = pdf_run
    assert steps == [10, 90, 100]
    messages = [r.getMessage() for r in records]
    assert [m for m in messages if "HarfBuzz-Subset" not in m] == []  # CSS fully understood
    title = pages[0]
    assert project.name in title
    assert all(m.display_name in title for m in project.members)
    assert "Ada Lovelace owner" in title
    assert "Generated 2025-03-01 12:30 UTC" in title


def test_pdf_contents_point_at_chapters_in_order(pdf_run: Any) -> None:
    project, pages, _, _ = pdf_run
    assert "Contents" in pages[1]
    entries = re.findall(r"^(\d+\. .+?) ?\.{3,} ?(\d+)$", pages[1], flags=re.MULTILINE)
    assert [title for title, _ in entries] == [chapter(p) for p in project.phases]
    numbers = [int(page) for _, page in entries]
    assert numbers == sorted(numbers)
    assert numbers[0] == 3
    for phase, number in zip(project.phases, numbers, strict=True):
        assert pages[number - 1].startswith(chapter(phase))


def test_pdf_chapters_hold_their_content(pdf_run: Any) -> None:
    project, pages, _, _ = pdf_run
    starts = [n for n, page in enumerate(pages) if re.match(r"\d+\. ", page)]
    assert len(starts) == len(project.phases)
    for phase, start, end in zip(project.phases, starts, [*starts[1:], len(pages)], strict=True):
        body = "\n".join(pages[start:end])
        for expected in (
            f"{phase.title} overview",
            f"{phase.title} details",
            f"{phase.key} bullet one",
            f"{phase.key} nested bullet",
            f"{phase.key} nested step",
            f"{phase.key} step three",
            "\n• \n• \n◦ \n1. \n3. \n4. \n",  # list markers, extracted last; <ol start="3">
            f"{phase.key} quoted wisdom",
            "print('<ok> & done')",
            "bold italic",
            "a link (https://example.com/docs)",
            UNICODE,
            phase.status.replace("_", " ").upper(),
        ):
            assert expected in body, (phase.title, expected)


def test_pdf_has_page_numbers(pdf_run: Any) -> None:
    _, pages, _, _ = pdf_run
    total = len(pages)
    assert total > 14
    assert f"/ {total}" not in pages[0]  # none on the title page
    for number, page in enumerate(pages[1:], start=2):
        assert f"{number} / {total}" in page


def test_pdf_keeps_cjk_text_as_text() -> None:
    project = make_project(phases=1)
    pdf = render_pdf(project)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    fonts: list[Any] = [
        font.get_object()
        for page in reader.pages
        for font in cast(Any, page["/Resources"])["/Font"].values()
    ]
    cmaps = b"".join(font["/ToUnicode"].get_object().get_data() for font in fonts)
    assert b"<4e2d>" in cmaps.lower()  # 中 (shown as a missing glyph without a CJK font)
    assert b"<6587>" in cmaps.lower()  # 文


def test_html_escapes_everything_outside_the_converter() -> None:
    project = make_project(name="<script>&", phases=1)
    phase = replace(project.phases[0], title="<b>Bold?</b>", status="<i>")
    html = build_html(replace(project, phases=(phase,)))
    assert "<script>" not in html
    assert "&lt;script&gt;&amp;" in html
    assert "&lt;b&gt;Bold?&lt;/b&gt;" in html
    assert "<b>" not in html
    assert "<h2>Vision overview</h2>" in html  # content headings nest under the chapter h1


def test_pdf_renders_escaped_names_literally() -> None:
    project = make_project(name="<script>&", phases=1)
    pages = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(render_pdf(project))).pages]
    assert pages[0].startswith("<script>&")


# --- DOCX --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word() -> tuple[ExportProject, Any, list[int]]:
    project = make_project()
    steps: list[int] = []
    document = docx.Document(io.BytesIO(render_docx(project, steps.append)))
    return project, document, steps


def test_docx_chapters_are_heading_1_in_order(word: Any) -> None:
    project, document, steps = word
    assert steps[0] == 10 and steps[-1] == 100 and steps == sorted(steps)
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [chapter(p) for p in project.phases]
    sub = [p.text for p in document.paragraphs if p.style.name == "Heading 2"]
    assert sub[:2] == ["Vision overview", "Stakeholders overview"]
    assert next(p.text for p in document.paragraphs if p.style.name == "Heading 3") == (
        "Vision details"
    )


def test_docx_title_page_and_contents(word: Any) -> None:
    project, document, _ = word
    paragraphs = document.paragraphs
    assert paragraphs[0].style.name == "Title" and paragraphs[0].text == project.name
    body = "\n".join(p.text for p in paragraphs[:12])
    assert "Zoë Ünal — editor" in body
    assert "Generated 2025-03-01 12:30 UTC" in body
    toc = next(p for p in paragraphs if p.style.name == "TOC Heading")
    cached = paragraphs[paragraphs.index(toc) + 1] if toc in paragraphs else None
    assert cached is not None
    assert "TOC \\o" in cached._p.xml
    assert cached.text.split("\n") == [chapter(p) for p in project.phases]


def _styles_of(document: Any, phrase: str) -> set[str]:
    return {p.style.name for p in document.paragraphs if phrase in p.text}


def test_docx_lists_quotes_and_code(word: Any) -> None:
    _, document, _ = word
    assert _styles_of(document, "p01 bullet one") == {"List Bullet"}
    assert _styles_of(document, "p01 nested bullet") == {"List Bullet 2"}
    assert _styles_of(document, "p01 nested step") == {"List Number 2"}
    assert _styles_of(document, "p01 step three") == {"List Number"}
    assert _styles_of(document, "a second paragraph") == {"List Continue"}
    assert _styles_of(document, "p01 quoted wisdom") == {"Quote"}
    code = next(p for p in document.paragraphs if "def main()" in p.text)
    assert code.style.name == "Code Block" and "\n    print(" in code.text
    assert code.style.font.name == "Courier New"


def test_docx_ordered_lists_restart_at_their_start(word: Any) -> None:
    _, document, _ = word
    steps = [p for p in document.paragraphs if re.search(r"p0[12] step three", p.text)]
    num_ids = [p._p.pPr.numPr.numId.val for p in steps]
    assert len(set(num_ids)) == 2  # each list its own numbering
    numbering = document.part.numbering_part.element
    for num_id in num_ids:
        start = numbering.xpath(f'./w:num[@w:numId="{num_id}"]//w:startOverride/@w:val')
        assert start == ["3"]


def test_docx_marks_and_links(word: Any) -> None:
    _, document, _ = word
    paragraph = next(p for p in document.paragraphs if p.text.startswith("Plain, bold"))
    runs = {run.text: run for run in paragraph.runs}
    assert runs["bold"].bold and not runs["italic"].bold
    assert runs["italic"].italic
    assert runs["bold italic"].bold and runs["bold italic"].italic
    assert runs["struck"].font.strike
    assert runs["code"].font.name == "Courier New"
    assert [link.address for link in paragraph.hyperlinks] == ["https://example.com/docs"]
    assert paragraph.hyperlinks[0].text == "a link"
    breaks = next(p for p in document.paragraphs if p.text.startswith("Line one"))
    assert breaks.text == f"Line one\nline two: {UNICODE} {CJK}"


def test_docx_escaping_and_unsafe_links() -> None:
    content = block("doc", para(text("x", href="javascript:alert(1)"), text("\x01ok")))
    project = make_project(name="<script>&", phases=1)
    phase = make_phase(1, "<b>", cjk=False, content=content)
    document = docx.Document(io.BytesIO(render_docx(replace(project, phases=(phase,)))))
    assert document.paragraphs[0].text == "<script>&"
    assert "1. <b>" in [p.text for p in document.paragraphs]
    last = document.paragraphs[-1]
    assert last.text == "xok" and last.hyperlinks == []


# --- JSON --------------------------------------------------------------------------------------


def test_json_validates_and_round_trips() -> None:
    project = make_project()
    data = json.loads(render_json(project).decode("utf-8"))
    Draft202012Validator.check_schema(JSON_SCHEMA)
    Draft202012Validator(JSON_SCHEMA, format_checker=FormatChecker()).validate(data)
    assert data["format_version"] == 1
    assert data["project"] == {
        "id": str(project.id),
        "name": project.name,
        "description": project.description,
        "template": "default",
        "generated_at": "2025-03-01T12:30:00+00:00",
    }
    assert data["members"][1] == {
        "display_name": "Zoë Ünal",
        "email": "zoe@example.com",
        "role": "editor",
    }
    for phase, out in zip(project.phases, data["phases"], strict=True):
        assert out["number"] == phase.number and out["key"] == phase.key
        assert out["title"] == phase.title and out["status"] == phase.status
        assert out["content"] == phase.content and out["markdown"] == phase.markdown
        assert datetime.fromisoformat(out["updated_at"]) == phase.updated_at
        assert out["versions"] == [
            {
                "id": str(v.id),
                "label": v.label,
                "source": v.source,
                "created_at": v.created_at.isoformat(),
            }
            for v in phase.versions
        ]
    assert CJK in render_json(project).decode("utf-8")  # UTF-8, not \u escapes


def test_json_schema_is_closed() -> None:
    validator = Draft202012Validator(JSON_SCHEMA)
    data = json.loads(render_json(make_project(name="<script>&", phases=1)))
    assert data["project"]["name"] == "<script>&"
    assert validator.is_valid(data)
    data["phases"][0]["extra"] = 1
    assert not validator.is_valid(data)
    del data["phases"][0]["extra"]
    data["phases"][0]["content"] = {"type": "paragraph"}
    assert not validator.is_valid(data)
    data["phases"][0]["content"] = {"type": "doc", "content": [{"type": "image"}]}
    assert not validator.is_valid(data)


# --- render() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "magic"),
    [
        ("pdf", "application/pdf", b"%PDF-"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK"),
        ("json", "application/json", b"{"),
    ],
)
def test_render_dispatches(fmt: Any, content_type: str, magic: bytes) -> None:
    steps: list[int] = []
    data, ctype, extension = render(fmt, make_project(phases=1, cjk=False), steps.append)
    assert data.startswith(magic) and ctype == content_type and extension == fmt
    assert steps[-1] == 100


# --- timing ------------------------------------------------------------------------------------


def long_project() -> ExportProject:
    sentence = "The team agreed on the plan, wrote it down, and checked every assumption twice. "
    phases = []
    for number, title in enumerate(TITLES, start=1):
        paragraphs = [
            para(text(f"{n}. "), text("Finding", "bold"), text(" " + sentence * 3))
            for n in range(1, 41)
        ]
        doc = block("doc", block("heading", text(f"{title} notes"), level=1), *paragraphs)
        phases.append(make_phase(number, title, cjk=False, content=doc))
    return replace(make_project(), phases=tuple(phases))


def test_render_times_for_a_long_project(capsys: pytest.CaptureFixture[str]) -> None:
    project = long_project()
    started = time.perf_counter()
    pdf = render_pdf(project)
    pdf_seconds = time.perf_counter() - started
    started = time.perf_counter()
    word = render_docx(project)
    docx_seconds = time.perf_counter() - started
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    with capsys.disabled():
        print(
            f"\n[render timing] {pages} PDF pages: pdf {pdf_seconds:.2f} s "
            f"({len(pdf) // 1024} KiB), docx {docx_seconds:.2f} s ({len(word) // 1024} KiB)"
        )
    assert pages > 40
