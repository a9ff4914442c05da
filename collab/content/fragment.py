"""Read and write the `content` XmlFragment exactly as y-prosemirror stores it.

y-prosemirror (the binding under Tiptap's Collaboration extension) maps:
- each non-text node to `XmlElement(node.type.name)`, its non-null attrs as XML attributes
  (numbers stay numbers), its children in order; leaf nodes (hardBreak, horizontalRule) are
  empty elements;
- each run of adjacent text nodes to one `XmlText` whose delta inserts carry the marks as
  formatting attributes: `{mark name: mark attrs}` (`{"bold": {}}`, `{"link": {"href": ...}}`).
  Overlapping marks get a `--hash` suffix, stripped on read.

Any client can store anything there, so reading never trusts a value (see `attrs`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Final

from pycrdt import XmlElement, XmlFragment, XmlText

from collab.content.attrs import mark_attrs, node_attrs
from collab.content.schema import (
    LEAVES,
    MAX_DEPTH,
    Mark,
    Node,
    append_text,
    check_doc,
    empty_doc,
    make_node,
    sort_marks,
)
from collab.content.to_text import prosemirror_to_text

_HASHED_MARK: Final = re.compile(r"(.*)(--[a-zA-Z0-9+/=]{8})$")


def fragment_to_prosemirror(fragment: XmlFragment) -> Node:
    """The ProseMirror JSON a Tiptap client bound to `fragment` returns from `getJSON()`."""
    with fragment.doc.transaction():
        content = _read_children(fragment, 0)
    return make_node("doc", content=content) if content else empty_doc()


def plain_text(fragment: XmlFragment) -> str:
    return prosemirror_to_text(fragment_to_prosemirror(fragment))


def write_prosemirror(
    fragment: XmlFragment, doc: Node, *, replace: bool, known_only: bool = True
) -> None:
    """Write `doc`'s nodes into `fragment`: after its children, or instead of them.

    Raises InvalidContent (before touching the fragment) if `doc` is outside the schema;
    with `known_only=False`, nodes and marks it does not know pass (content read back from
    a fragment, such as a version to restore, is written as it was).
    """
    check_doc(doc, known_only=known_only)
    with fragment.doc.transaction():
        if replace:
            del fragment.children[:]
        _write_content(fragment, doc.get("content", []))


def _read_children(parent: XmlFragment | XmlElement, depth: int) -> list[Node]:
    content: list[Node] = []
    for child in parent.children:
        if isinstance(child, XmlText):
            for value, attrs in child.diff():
                if isinstance(value, str):
                    append_text(content, value, _read_marks(attrs or {}))
        elif isinstance(child, XmlElement) and child.tag == "text" and depth < MAX_DEPTH:
            # ProseMirror keeps "text" for text nodes: such an element is read as its content.
            _extend(content, _read_children(child, depth + 1))
        elif isinstance(child, XmlElement) and depth < MAX_DEPTH:
            node = _read_element(child, depth + 1)
            inside = node.pop("content", []) if node["type"] in LEAVES else []
            content.append(node)
            _extend(content, inside)  # a leaf holds nothing: what a client put there follows
    return content


def _extend(content: list[Node], nodes: list[Node]) -> None:
    """Append nodes, joining text to text with the same marks (as ProseMirror does)."""
    for node in nodes:
        if node["type"] == "text":
            append_text(content, node["text"], node.get("marks", []))
        else:
            content.append(node)


def _read_element(element: XmlElement, depth: int) -> Node:
    stored: Iterable[tuple[str, Any]] = element.attributes.__iter__()  # typed as Iterable
    kind = element.tag or "paragraph"
    attrs = node_attrs(kind, {k: v for k, v in stored if k != "ychange"})
    return make_node(kind, attrs, _read_children(element, depth))


def _read_marks(attrs: dict[str, Any]) -> list[Mark]:
    marks: list[Mark] = []
    for key, value in attrs.items():
        match = _HASHED_MARK.match(key)
        mark: Mark = {"type": match.group(1) if match else key}
        if isinstance(value, dict) and value:
            mark["attrs"] = mark_attrs(mark["type"], value)
        if mark["type"] != "ychange" and mark not in marks:  # a hashed twin: one mark
            marks.append(mark)
    return sort_marks(marks)


def _write_content(parent: XmlFragment | XmlElement, content: list[Node]) -> None:
    run: list[Node] = []
    for node in content:
        if node["type"] == "text":
            run.append(node)
            continue
        _write_text(parent, run)
        run = []
        attrs = {k: v for k, v in node.get("attrs", {}).items() if v is not None}
        element = parent.children.append(XmlElement(node["type"], attrs))
        _write_content(element, node.get("content", []))
    _write_text(parent, run)


def _write_text(parent: XmlFragment | XmlElement, run: list[Node]) -> None:
    run = [node for node in run if node["text"]]
    if not run:
        return
    text = parent.children.append(XmlText())
    for node in run:
        text.insert(len(text), node["text"], _formats(node.get("marks", [])))


def _formats(marks: list[Mark]) -> dict[str, Any]:
    """Marks as formatting attributes; a second mark of one type (overlapping comments)
    gets a `--hash` suffix of its attrs, as y-prosemirror writes it."""
    formats: dict[str, Any] = {}
    for mark in marks:
        attrs = dict(mark.get("attrs") or {})
        key = mark["type"]
        if key in formats:
            digest = hashlib.sha256(json.dumps(attrs, sort_keys=True).encode()).digest()
            key = f"{key}--{base64.b64encode(digest).decode()[:8]}"
        formats[key] = attrs
    return formats
