"""The ProseMirror/Tiptap schema this server knows, as plain JSON helpers.

A node is the dict Tiptap's `getJSON()` gives: `{"type", "attrs"?, "content"?}`, text nodes
`{"type": "text", "text", "marks"?}`. Attribute defaults are filled in as ProseMirror does,
so every reader and parser here yields the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

Node = dict[str, Any]
Mark = dict[str, Any]

NODE_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "doc": {},
    "paragraph": {},
    "heading": {"level": 1},
    "bulletList": {},
    "orderedList": {"start": 1},
    "listItem": {},
    "blockquote": {},
    "codeBlock": {"language": None},
    "horizontalRule": {},
    "hardBreak": {},
    "text": {},
}
# Tiptap's schema order (Link has priority 1000): ProseMirror sorts a node's marks this way.
MARK_TYPES: Final = ("link", "bold", "code", "italic", "strike")
# Nesting when rendering: links outermost, code spans innermost.
_NESTING: Final = ("link", "bold", "italic", "strike", "code")
MAX_DEPTH: Final = 64
_SCALARS: Final = (str, int, float, bool, type(None))


class InvalidContent(ValueError):
    """A ProseMirror JSON document outside the schema; nothing was written."""


def empty_doc() -> Node:
    """What Tiptap shows for an empty document: one empty paragraph."""
    return {"type": "doc", "content": [{"type": "paragraph"}]}


def make_node(
    kind: str, attrs: dict[str, Any] | None = None, content: list[Node] | None = None
) -> Node:
    """A node with ProseMirror's default attributes filled in; empty content is left out."""
    node: Node = {"type": kind}
    merged = {**NODE_DEFAULTS.get(kind, {}), **(attrs or {})}
    if merged:
        node["attrs"] = merged
    if content:
        node["content"] = content
    return node


def sort_marks(marks: Sequence[Mark]) -> list[Mark]:
    def rank(mark: Mark) -> tuple[int, str]:
        kind = str(mark["type"])
        return (MARK_TYPES.index(kind) if kind in MARK_TYPES else len(MARK_TYPES), kind)

    return sorted(marks, key=rank)


def append_text(content: list[Node], text: str, marks: Sequence[Mark]) -> None:
    """Append a text node, joining it to the previous one when the marks match (as PM does)."""
    if not text:
        return
    last = content[-1] if content else None
    if last is not None and last["type"] == "text" and last.get("marks", []) == list(marks):
        last["text"] += text
        return
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    content.append(node)


def render_inline(
    nodes: Sequence[Node],
    leaf: Callable[[Node], str],
    wrap: Callable[[Mark, str], str],
    applied: frozenset[str] = frozenset(),
) -> str:
    """Render inline nodes with properly nested marks: runs sharing a mark share one wrapper."""
    out: list[str] = []
    i = 0
    while i < len(nodes):
        mark = _outer_mark(nodes, i, applied)
        if mark is None:
            out.append(leaf(nodes[i]))
            i += 1
            continue
        j = _run_end(nodes, i, mark)
        inner = render_inline(nodes[i:j], leaf, wrap, applied | {mark["type"]})
        out.append(wrap(mark, inner))
        i = j
    return "".join(out)


def _outer_mark(nodes: Sequence[Node], i: int, applied: frozenset[str]) -> Mark | None:
    """The mark of `nodes[i]` to open first: the longest run; code spans always innermost."""
    marks: list[Mark] = [m for m in nodes[i].get("marks", ()) if m["type"] not in applied]
    if len(marks) > 1:
        marks = [m for m in marks if m["type"] != "code"]
    if not marks:
        return None
    return max(marks, key=lambda m: (_run_end(nodes, i, m), -_nesting(m)))


def _nesting(mark: Mark) -> int:
    kind = mark["type"]
    return _NESTING.index(kind) if kind in _NESTING else len(_NESTING)


def _run_end(nodes: Sequence[Node], i: int, mark: Mark) -> int:
    j = i + 1
    while j < len(nodes) and mark in nodes[j].get("marks", ()):
        j += 1
    return j


def has_mark(node: Node, kind: str) -> bool:
    return any(m.get("type") == kind for m in node.get("marks", ()))


def check_doc(doc: Any) -> None:
    """Raise InvalidContent unless `doc` is a `doc` node inside this schema."""
    if not isinstance(doc, dict) or doc.get("type") != "doc":
        raise InvalidContent("expected a ProseMirror doc node")
    _check_node(doc, 0)


def _check_node(node: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidContent("document nested too deeply")
    if not isinstance(node, dict) or node.get("type") not in NODE_DEFAULTS:
        raise InvalidContent(f"unknown node: {str(node)[:80]}")
    _check_attrs(node.get("attrs", {}))
    if node["type"] == "text":
        _check_text(node)
        return
    content = node.get("content", [])
    if not isinstance(content, list):
        raise InvalidContent("node content must be a list")
    for child in content:
        _check_node(child, depth + 1)


def _check_text(node: Node) -> None:
    marks = node.get("marks", [])
    if not isinstance(node.get("text"), str) or not isinstance(marks, list):
        raise InvalidContent("text node needs a string text and a list of marks")
    for mark in marks:
        if not isinstance(mark, dict) or mark.get("type") not in MARK_TYPES:
            raise InvalidContent(f"unknown mark: {str(mark)[:80]}")
        _check_attrs(mark.get("attrs", {}))


def _check_attrs(attrs: Any) -> None:
    if not isinstance(attrs, dict) or not all(
        isinstance(k, str) and isinstance(v, _SCALARS) for k, v in attrs.items()
    ):
        raise InvalidContent("attrs must map names to scalars")
