"""The ProseMirror/Tiptap schema this server knows, as plain JSON helpers.

A node is the dict Tiptap's `getJSON()` gives: `{"type", "attrs"?, "content"?}`, text nodes
`{"type": "text", "text", "marks"?}`. Attribute defaults are filled in as ProseMirror does,
so every reader and parser here yields the same shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

from collab.content.attrs import SAFE_INTEGER

Node = dict[str, Any]
Mark = dict[str, Any]

NODE_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "doc": {},
    "paragraph": {},
    "heading": {"level": 1},
    "bulletList": {},
    "orderedList": {"start": 1, "type": None},  # Tiptap 3: type is "a", "I", ... or null
    "listItem": {},
    "blockquote": {},
    "codeBlock": {"language": None},
    "horizontalRule": {},
    "hardBreak": {},
    "text": {},
}
# Tiptap 3 StarterKit's schema order (Link has priority 1000, the rest StarterKit's order):
# ProseMirror sorts a node's marks this way.
MARK_TYPES: Final = ("link", "bold", "code", "italic", "strike", "underline")
# Nesting when rendering: links outermost, code spans innermost.
_NESTING: Final = ("link", "bold", "italic", "strike", "underline", "code")
MAX_DEPTH: Final = 64
INLINE: Final = frozenset({"text", "hardBreak"})
LEAVES: Final = frozenset({"horizontalRule", "hardBreak"})
_TEXTBLOCKS: Final = frozenset({"paragraph", "heading"})


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
    def rank(mark: Mark) -> tuple[int, str, str]:
        kind = str(mark["type"])
        known = MARK_TYPES.index(kind) if kind in MARK_TYPES else len(MARK_TYPES)
        # Marks of one type (overlapping comments) in a stable order, whatever yrs gives.
        attrs = mark.get("attrs")
        return (known, kind, json.dumps(attrs, sort_keys=True, default=str) if attrs else "")

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


def holds_inline(node: Node) -> bool:
    """Whether `node`'s content is laid out as one run of text: a textblock's (whatever it
    holds), or text alone in any node but the document. Else it is laid out `as_blocks`."""
    inline = [child.get("type") in INLINE for child in node.get("content") or []]
    if node.get("type") in _TEXTBLOCKS:
        return any(inline)
    return bool(inline) and all(inline) and node.get("type") != "doc"


def as_blocks(content: list[Node]) -> list[Node]:
    """Block content with each run of text among it in a paragraph of its own: what any
    client may write (text beside blocks) laid out as an editor would."""
    out: list[Node] = []
    run: list[Node] = []
    for child in content:
        if child.get("type") in INLINE:
            run.append(child)
            continue
        if run:
            out.append({"type": "paragraph", "content": run})
            run = []
        out.append(child)
    if run:
        out.append({"type": "paragraph", "content": run})
    return out


def list_items(node: Node) -> list[Node]:
    """A list's items; anything else a client put in the list is an item of its own."""
    return [
        child if child.get("type") == "listItem" else {"type": "listItem", "content": [child]}
        for child in as_blocks(node.get("content") or [])
    ]


def text_of(node: Node) -> str:
    """All the text a node holds: how a renderer shows a node it cannot place (a node it does
    not know among text, a block inside a paragraph, an element inside a code block)."""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    return "".join(text_of(child) for child in node.get("content") or [] if isinstance(child, dict))


def has_mark(node: Node, kind: str) -> bool:
    return any(m.get("type") == kind for m in node.get("marks", ()))


def fit_schema(doc: Node) -> Node:
    """`doc` inside this schema, for readers that accept nothing else (the JSON export).

    Marks it does not know and attributes that are not scalars are dropped; a node it does
    not know gives way to its content (text in a paragraph), so its text is kept.
    """
    content = _known_children(doc.get("content") or [])
    return make_node("doc", content=content) if content else empty_doc()


def _known_children(content: list[Any]) -> list[Node]:
    out: list[Node] = []
    for child in content:
        if not isinstance(child, dict):
            continue
        kind = child.get("type")
        if kind == "text" and isinstance(child.get("text"), str):
            out.append(_known_text(child))
        elif kind in NODE_DEFAULTS and kind != "text":
            node = make_node(kind, _scalar_attrs(child).get("attrs"))
            inner = _known_children(child.get("content") or [])
            out.append({**node, "content": inner} if inner else node)
        else:
            inner = _known_children(child.get("content") or [])
            inline = any(node["type"] in ("text", "hardBreak") for node in inner)
            out.extend([make_node("paragraph", content=inner)] if inline else inner)
    return out


def _known_text(node: Node) -> Node:
    text: Node = {"type": "text", "text": node["text"]}
    marks = [_scalar_attrs(m) for m in node.get("marks") or [] if _is_known_mark(m)]
    return {**text, "marks": marks} if marks else text


def _is_known_mark(mark: Any) -> bool:
    return isinstance(mark, dict) and mark.get("type") in MARK_TYPES


def _scalar_attrs(item: dict[str, Any]) -> dict[str, Any]:
    attrs = item.get("attrs")
    if not isinstance(attrs, dict):
        return _without(item, "attrs")
    kept = {k: v for k, v in attrs.items() if isinstance(k, str) and _storable(v, 0)}
    return {**item, "attrs": kept} if kept else _without(item, "attrs")


def _without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


def check_doc(doc: Any, *, known_only: bool = True) -> None:
    """Raise InvalidContent unless `doc` is a `doc` node inside this schema.

    `known_only=False` also lets through node and mark types this schema does not know, and
    JSON attribute values (lists, maps) besides scalars: what reading a fragment can yield.
    """
    if not isinstance(doc, dict) or doc.get("type") != "doc":
        raise InvalidContent("expected a ProseMirror doc node")
    _check_node(doc, 0, known_only)


def _check_node(node: Any, depth: int, known_only: bool) -> None:
    if depth > MAX_DEPTH:
        raise InvalidContent("document nested too deeply")
    if not isinstance(node, dict) or not _known(node.get("type"), NODE_DEFAULTS, known_only):
        raise InvalidContent(f"unknown node: {str(node)[:80]}")
    _check_attrs(node.get("attrs", {}), known_only)
    if node["type"] == "text":
        _check_text(node, known_only)
        return
    content = node.get("content", [])
    if not isinstance(content, list):
        raise InvalidContent("node content must be a list")
    for child in content:
        _check_node(child, depth + 1, known_only)


def _known(kind: Any, known: Collection[str], known_only: bool) -> bool:
    if not isinstance(kind, str) or not kind:
        return False
    return kind in known or not known_only


def _check_text(node: Node, known_only: bool) -> None:
    marks = node.get("marks", [])
    if not isinstance(node.get("text"), str) or not isinstance(marks, list):
        raise InvalidContent("text node needs a string text and a list of marks")
    for mark in marks:
        if not isinstance(mark, dict) or not _known(mark.get("type"), MARK_TYPES, known_only):
            raise InvalidContent(f"unknown mark: {str(mark)[:80]}")
        _check_attrs(mark.get("attrs", {}), known_only)


def _check_attrs(attrs: Any, known_only: bool) -> None:
    if not isinstance(attrs, dict) or not all(
        isinstance(k, str) and _storable(v, 0 if known_only else 1) for k, v in attrs.items()
    ):
        raise InvalidContent("attrs must map names to scalars")


def _storable(value: Any, nesting: int) -> bool:
    """A value yrs can store: numbers must fit its integers (a larger one panics) and be finite."""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= SAFE_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str | bool | type(None)):
        return True
    if nesting <= 0 or nesting > MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_storable(item, nesting + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _storable(v, nesting + 1) for k, v in value.items())
    return False
