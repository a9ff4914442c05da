"""ProseMirror JSON to semantic, escaped HTML (the export and preview format)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Final
from urllib.parse import urlsplit

from collab.content.attrs import (
    code_language,
    heading_level,
    link_attr,
    link_href,
    list_start,
    list_type,
)
from collab.content.schema import Mark, Node, as_blocks, holds_inline, sort_marks, text_of

_SIMPLE_BLOCKS: Final = {
    "paragraph": "p",
    "bulletList": "ul",
    "listItem": "li",
    "blockquote": "blockquote",
}
_MARK_TAGS: Final = {
    "bold": "strong",
    "italic": "em",
    "code": "code",
    "strike": "s",
    "underline": "u",
}
_LINK_ATTRS: Final = ("target", "rel", "class", "title")  # as Tiptap's Link renders them
_UNSAFE_SCHEMES: Final = frozenset({"javascript", "vbscript", "data"})


def prosemirror_to_html(doc: Node) -> str:
    return _children(doc)


def _children(node: Node) -> str:
    content: list[Node] = node.get("content", [])
    if holds_inline(node):
        return _inline(content)
    return "".join(_block(child) for child in as_blocks(content))


def _inline(nodes: list[Node]) -> str:
    """Inline nodes with their marks nested as ProseMirror's DOMSerializer nests them (so the
    HTML equals the editor's `getHTML()`): marks in schema order, and a mark stays open into
    the next node only while every mark outside it does too."""
    root: list[str] = []
    open_marks: list[tuple[Mark, list[str]]] = []

    def close_to(depth: int) -> None:
        while len(open_marks) > depth:
            mark, parts = open_marks.pop()
            (open_marks[-1][1] if open_marks else root).append(_wrap(mark, "".join(parts)))

    for node in nodes:
        marks = sort_marks([m for m in node.get("marks") or () if isinstance(m, dict)])
        keep = 0
        while keep < min(len(open_marks), len(marks)) and open_marks[keep][0] == marks[keep]:
            keep += 1
        close_to(keep)
        open_marks.extend((mark, []) for mark in marks[keep:])
        (open_marks[-1][1] if open_marks else root).append(_leaf(node))
    close_to(0)
    return "".join(root)


def _block(node: Node) -> str:
    kind = str(node.get("type"))
    tag = _SIMPLE_BLOCKS.get(kind)
    if tag is not None:
        return f"<{tag}>{_children(node)}</{tag}>"
    render = _SPECIAL_BLOCKS.get(kind, _children)
    return render(node)


def _heading(node: Node) -> str:
    level = heading_level(node)
    return f"<h{level}>{_children(node)}</h{level}>"


def _ordered_list(node: Node) -> str:
    start = list_start(node)
    start_attr = f' start="{start}"' if start != 1 else ""
    kind = list_type(node)
    type_attr = f' type="{escape(kind)}"' if kind else ""
    return f"<ol{start_attr}{type_attr}>{_children(node)}</ol>"


def _code_block(node: Node) -> str:
    language = code_language(node)
    cls = f' class="language-{escape(language)}"' if language else ""
    return f"<pre><code{cls}>{escape(text_of(node), quote=False)}</code></pre>"


_SPECIAL_BLOCKS: Final[dict[str, Callable[[Node], str]]] = {
    "heading": _heading,
    "orderedList": _ordered_list,
    "codeBlock": _code_block,
    "horizontalRule": lambda _node: "<hr>",
    "hardBreak": lambda _node: "<br>",
}


def _leaf(node: Node) -> str:
    if node.get("type") == "hardBreak":
        return "<br>"
    return escape(text_of(node), quote=False)  # a text node, or one we cannot place: its text


def _wrap(mark: Mark, inner: str) -> str:
    kind = mark["type"]
    if kind == "link":
        href = _safe_href(link_href(mark))
        if not href:
            return inner
        extra = "".join(
            f' {name}="{escape(value)}"' for name in _LINK_ATTRS if (value := link_attr(mark, name))
        )
        return f'<a{extra} href="{escape(href)}">{inner}</a>'
    tag = _MARK_TAGS.get(kind)
    return f"<{tag}>{inner}</{tag}>" if tag else inner


def _safe_href(href: str) -> str:
    try:
        scheme = urlsplit(href.strip()).scheme.lower()
    except ValueError:
        return ""
    return "" if scheme in _UNSAFE_SCHEMES else href
