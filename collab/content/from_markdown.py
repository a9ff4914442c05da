"""Markdown (CommonMark plus `~~strike~~`) to ProseMirror JSON, via markdown-it-py.

Raw HTML is not enabled, so it arrives as literal text; other unknown constructs degrade to
paragraphs of text. Images become their alt text linked to the source.
"""

from __future__ import annotations

from typing import Final

from markdown_it import MarkdownIt
from markdown_it.token import Token

from collab.content.schema import Mark, Node, append_text, empty_doc, make_node, sort_marks

_MD: Final = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_BLOCKS: Final = {
    "paragraph": "paragraph",
    "heading": "heading",
    "bullet_list": "bulletList",
    "ordered_list": "orderedList",
    "list_item": "listItem",
    "blockquote": "blockquote",
}
_MARKS: Final = {"strong": "bold", "em": "italic", "s": "strike", "link": "link"}


def markdown_to_prosemirror(md: str) -> Node:
    builder = _DocBuilder()
    for token in _MD.parse(md):
        builder.feed(token)
    return builder.finish()


class _DocBuilder:
    """Folds markdown-it's flat block tokens into nested nodes."""

    def __init__(self) -> None:
        self._stack: list[Node] = [make_node("doc")]

    def feed(self, token: Token) -> None:
        kind = token.type.removesuffix("_open").removesuffix("_close")
        if kind in _BLOCKS and token.nesting == 1:
            self._stack.append(make_node(_BLOCKS[kind], _block_attrs(token)))
        elif kind in _BLOCKS and token.nesting == -1:
            node = _repair(self._stack.pop())
            self._add(node)
        elif token.type == "inline":
            self._stack[-1].setdefault("content", []).extend(_inline(token.children or []))
        elif token.type in ("fence", "code_block"):
            self._add(_code_block(token))
        elif token.type == "hr":
            self._add(make_node("horizontalRule"))
        elif token.content:
            self._add(make_node("paragraph", content=[{"type": "text", "text": token.content}]))

    def finish(self) -> Node:
        doc = self._stack[0]
        return doc if doc.get("content") else empty_doc()

    def _add(self, node: Node) -> None:
        self._stack[-1].setdefault("content", []).append(node)


def _block_attrs(token: Token) -> dict[str, int]:
    if token.type == "heading_open":
        return {"level": int(token.tag[1:])}
    if token.type == "ordered_list_open":
        return {"start": int(str(token.attrGet("start") or 1))}
    return {}


def _repair(node: Node) -> Node:
    """Tiptap's listItem is `paragraph block*` and blockquote is `block+`."""
    content: list[Node] = node.get("content", [])
    if node["type"] == "listItem" and (not content or content[0]["type"] != "paragraph"):
        node["content"] = [make_node("paragraph"), *content]
    elif node["type"] == "blockquote" and not content:
        node["content"] = [make_node("paragraph")]
    return node


def _code_block(token: Token) -> Node:
    words = token.info.split()
    text = token.content.removesuffix("\n")
    content = [{"type": "text", "text": text}] if text else None
    return make_node("codeBlock", {"language": words[0] if words else None}, content)


def _inline(tokens: list[Token]) -> list[Node]:
    content: list[Node] = []
    marks: list[Mark] = []
    for token in tokens:
        kind = token.type.removesuffix("_open").removesuffix("_close")
        if kind in _MARKS and token.nesting != 0:
            _toggle(marks, _MARKS[kind], token)
        elif token.type == "hardbreak":
            content.append({"type": "hardBreak"})
        else:
            text, extra = _inline_text(token)
            append_text(content, text, sort_marks([*marks, *extra]))
    return content


def _toggle(marks: list[Mark], kind: str, token: Token) -> None:
    if token.nesting == 1:
        mark: Mark = {"type": kind}
        if kind == "link":
            mark["attrs"] = {"href": str(token.attrGet("href") or "")}
        marks.append(mark)
        return
    for i in range(len(marks) - 1, -1, -1):
        if marks[i]["type"] == kind:
            del marks[i]
            return


def _inline_text(token: Token) -> tuple[str, list[Mark]]:
    if token.type == "softbreak":
        return " ", []
    if token.type == "code_inline":
        return token.content, [{"type": "code"}]
    if token.type == "image":
        src = str(token.attrGet("src") or "")
        return token.content or src, [{"type": "link", "attrs": {"href": src}}]
    return token.content, []
