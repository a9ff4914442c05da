"""Read and write the `content` XmlFragment exactly as y-prosemirror stores it.

y-prosemirror (the binding under Tiptap's Collaboration extension) maps:
- each non-text node to `XmlElement(node.type.name)`, its non-null attrs as XML attributes
  (numbers stay numbers), its children in order; leaf nodes (hardBreak, horizontalRule) are
  empty elements;
- each run of adjacent text nodes to one `XmlText` whose delta inserts carry the marks as
  formatting attributes: `{mark name: mark attrs}` (`{"bold": {}}`, `{"link": {"href": ...}}`).
  Overlapping marks get a `--hash` suffix, stripped on read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from pycrdt import XmlElement, XmlFragment, XmlText

from collab.content.schema import (
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


def write_prosemirror(fragment: XmlFragment, doc: Node, *, replace: bool) -> None:
    """Write `doc`'s nodes into `fragment`: after its children, or instead of them.

    Raises InvalidContent (before touching the fragment) if `doc` is outside the schema.
    """
    check_doc(doc)
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
        elif isinstance(child, XmlElement) and depth < MAX_DEPTH:
            content.append(_read_element(child, depth + 1))
    return content


def _read_element(element: XmlElement, depth: int) -> Node:
    stored: Iterable[tuple[str, Any]] = element.attributes.__iter__()  # typed as Iterable
    attrs = {k: _plain(v) for k, v in stored if k != "ychange"}
    return make_node(element.tag or "paragraph", attrs, _read_children(element, depth))


def _read_marks(attrs: dict[str, Any]) -> list[Mark]:
    marks: list[Mark] = []
    for key, value in attrs.items():
        match = _HASHED_MARK.match(key)
        mark: Mark = {"type": match.group(1) if match else key}
        if isinstance(value, dict) and value:
            mark["attrs"] = {k: _plain(v) for k, v in value.items()}
        if mark["type"] != "ychange":
            marks.append(mark)
    return sort_marks(marks)


def _plain(value: Any) -> Any:
    """yrs hands JSON numbers back as floats; ProseMirror JSON has 1, not 1.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
        formats = {m["type"]: dict(m.get("attrs") or {}) for m in node.get("marks", [])}
        text.insert(len(text), node["text"], formats)
