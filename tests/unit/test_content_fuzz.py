"""Stored content can never make reading fail: random fragments through every conversion.

Any Yjs client can write any element name, any attribute value of any type and any
formatting into the `content` fragment; every reader must still answer.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from collab.content import (
    fragment_to_prosemirror,
    markdown_to_prosemirror,
    prosemirror_to_html,
    prosemirror_to_markdown,
    prosemirror_to_text,
    write_prosemirror,
)
from server.exports.model import ExportPhase, ExportProject
from server.exports.render import JSON_SCHEMA, render_docx, render_json
from server.exports.render.html import build_html

KNOWN = ["paragraph", "heading", "bulletList", "orderedList", "listItem", "blockquote"]
KNOWN += ["codeBlock", "horizontalRule", "hardBreak", "doc"]
NAMES = st.sampled_from([*KNOWN, "image", "mention", "table", "", "text"]) | st.text(max_size=8)
ATTR_NAMES = st.sampled_from(["level", "start", "type", "language", "href"]) | st.text(max_size=6)
MARK_NAMES = st.sampled_from(
    ["bold", "italic", "code", "strike", "link", "underline", "comment", "ychange"]
) | st.sampled_from(["bold--AbCd1234", "link--zzzzzzzz"])

# yrs stores 64-bit integers (a larger Python int panics in pycrdt, client side).
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
    | st.binary(max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@dataclass
class Run:
    text: str
    formats: dict[str, Any]


@dataclass
class Element:
    name: str
    attrs: dict[str, Any]
    children: list[Element | list[Run]]


RUNS = st.lists(
    st.builds(
        Run,
        st.text(min_size=1, max_size=12),
        st.dictionaries(MARK_NAMES, VALUES, max_size=3),
    ),
    min_size=1,
    max_size=3,
)
TREES = st.recursive(
    st.builds(Element, NAMES, st.dictionaries(ATTR_NAMES, VALUES, max_size=3), st.just([])),
    lambda inner: st.builds(
        Element,
        NAMES,
        st.dictionaries(ATTR_NAMES, VALUES, max_size=3),
        st.lists(inner | RUNS, max_size=4),
    ),
    max_leaves=12,
)


def build(tops: list[Element | list[Run]]) -> XmlFragment:
    doc: Doc[Any] = Doc()
    fragment = doc.get("content", type=XmlFragment)
    with doc.transaction():
        for top in tops:
            _add(fragment, top)
    return fragment


def _add(parent: XmlFragment | XmlElement, item: Element | list[Run]) -> None:
    if isinstance(item, list):
        text = parent.children.append(XmlText())
        for run in item:
            text.insert(len(text), run.text, run.formats)
        return
    element = parent.children.append(XmlElement(item.name))
    for key, value in item.attrs.items():
        element.attributes[key] = value
    for child in item.children:
        _add(element, child)


def words(tops: list[Element | list[Run]]) -> list[str]:
    """The texts written, those made of letters and digits only (so no escaping applies)."""
    found: list[str] = []
    for item in tops:
        if isinstance(item, list):
            found.extend(run.text for run in item if run.text.isascii() and run.text.isalnum())
        else:
            found.extend(words(item.children))
    return found


def project(content: dict[str, Any]) -> ExportProject:
    phase = ExportPhase(
        number=1,
        key="vision",
        title="Vision",
        description="",
        status="in_progress",
        updated_at=datetime(2025, 1, 1, tzinfo=UTC),
        content=content,
        markdown=prosemirror_to_markdown(content),
    )
    return ExportProject(
        id=uuid.uuid4(),
        name="Fuzz",
        description="",
        template="default v1",
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
        members=(),
        phases=(phase,),
    )


def without_nulls(node: dict[str, Any]) -> dict[str, Any]:
    """y-prosemirror writes only non-null attributes: a null reads back as absent."""
    out = dict(node)
    attrs = {k: v for k, v in node.get("attrs", {}).items() if v is not None}
    out.pop("attrs", None)
    if attrs:
        out["attrs"] = attrs
    if "content" in node:
        out["content"] = [without_nulls(child) for child in node["content"]]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TREES | RUNS, max_size=4))
def test_every_conversion_answers(tops: list[Element | list[Run]]) -> None:
    pm = fragment_to_prosemirror(build(tops))
    json.dumps(pm, allow_nan=False)  # what the API answers must be JSON
    markdown = prosemirror_to_markdown(pm)
    html = prosemirror_to_html(pm)
    text = prosemirror_to_text(pm)
    for word in words(tops):  # nothing known or not drops text
        assert word in text and word in html and word in markdown
    markdown_to_prosemirror(markdown)
    render_docx(project(pm))
    build_html(project(pm))
    exported = json.loads(render_json(project(pm)))
    Draft202012Validator(JSON_SCHEMA).validate(exported)
    # What was read can be written back as it was (a version restore).
    copy: Doc[Any] = Doc()
    fragment = copy.get("content", type=XmlFragment)
    write_prosemirror(fragment, pm, replace=True, known_only=False)
    assert without_nulls(fragment_to_prosemirror(fragment)) == without_nulls(pm)


def test_known_attributes_fall_back_to_defaults() -> None:
    doc: Doc[Any] = Doc()
    fragment = doc.get("content", type=XmlFragment)
    bad: list[tuple[str, dict[str, Any]]] = [
        ("heading", {"level": "abc"}),
        ("heading", {"level": 99}),
        ("heading", {"level": math.nan}),
        ("orderedList", {"start": [1]}),
        ("codeBlock", {"language": {"x": 1}}),
        ("image", {"src": b"\x00", "width": math.inf, "size": [1.0, "a"]}),
    ]
    with doc.transaction():
        for name, attrs in bad:
            element = fragment.children.append(XmlElement(name))
            for key, value in attrs.items():
                element.attributes[key] = value
            element.children.append(XmlText(f"{name} text"))
    nodes = fragment_to_prosemirror(fragment)["content"]
    assert [node.get("attrs") for node in nodes] == [
        {"level": 1},
        {"level": 6},
        {"level": 1},
        {"start": 1, "type": None},
        {"language": None},
        {"src": None, "width": None, "size": [1, "a"]},
    ]
    html = prosemirror_to_html({"type": "doc", "content": nodes})
    assert "<h1>heading text</h1>" in html and "<h6>heading text</h6>" in html
    assert "image text" in html and "image text" in prosemirror_to_markdown(
        {"type": "doc", "content": nodes}
    )


def test_text_inside_nodes_out_of_place_is_kept() -> None:
    doc: Doc[Any] = Doc()
    fragment = doc.get("content", type=XmlFragment)
    with doc.transaction():
        paragraph = fragment.children.append(XmlElement("paragraph"))
        paragraph.children.append(XmlText("Hello "))
        mention = paragraph.children.append(XmlElement("mention", {"id": "7"}))
        mention.children.append(XmlText("Ada"))
        code = fragment.children.append(XmlElement("codeBlock"))
        inner = code.children.append(XmlElement("paragraph"))
        inner.children.append(XmlText("x = 1"))
        fragment.children.append(XmlText("loose text"))
    pm = fragment_to_prosemirror(fragment)
    for render in (prosemirror_to_html, prosemirror_to_markdown, prosemirror_to_text):
        out = render(pm)
        assert "Hello Ada" in out and "x = 1" in out and "loose text" in out, render
    document = render_docx(project(pm))
    from io import BytesIO

    import docx

    paragraphs = [p.text for p in docx.Document(BytesIO(document)).paragraphs]
    assert "Hello Ada" in paragraphs and "x = 1" in paragraphs and "loose text" in paragraphs
