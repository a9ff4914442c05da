"""ProseMirror JSON to CommonMark (plus `~~strike~~`), escaped so it parses back the same."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from collab.content.attrs import code_language, heading_level, link_href, list_start
from collab.content.schema import (
    Mark,
    Node,
    as_blocks,
    has_mark,
    holds_inline,
    list_items,
    render_inline,
    text_of,
)

_SPECIAL_CHARS: Final = re.compile(r"([\\`*_\[\]<>~])")
_ENTITY: Final = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_LINE_START_CHAR: Final = re.compile(r"^([-+#>=])", re.MULTILINE)
_LINE_START_NUMBER: Final = re.compile(r"^(\d{1,9})([.)])(?=\s|$)", re.MULTILINE)
_BACKTICKS: Final = re.compile(r"`+")
_EMPHASIS: Final = {"bold": "**", "italic": "*", "strike": "~~"}
_INLINE: Final = frozenset({"text", "hardBreak"})


def prosemirror_to_markdown(doc: Node) -> str:
    return _blocks(doc.get("content", []))


def _blocks(nodes: list[Node], *, in_item: bool = False) -> str:
    parts: list[str] = []
    previous: str | None = None
    for node in as_blocks(nodes):
        text = _block(node, previous)
        if not text:
            continue
        if parts:
            tight = in_item and _interrupts_paragraph(node)
            parts.append("\n" if tight else "\n\n")
        parts.append(text)
        previous = node.get("type")
    return "".join(parts)


def _interrupts_paragraph(node: Node) -> bool:
    """Only a bullet list or a list numbered from 1 may follow a paragraph without a gap."""
    kind = node.get("type")
    return kind == "bulletList" or (kind == "orderedList" and list_start(node) == 1)


def _block(node: Node, previous: str | None) -> str:
    kind = str(node.get("type"))
    if kind == "bulletList":
        # A different bullet starts a new list instead of continuing the previous one.
        return _list(node, lambda _: "*" if previous == "bulletList" else "-")
    if kind == "orderedList":
        start = list_start(node)
        delim = ")" if previous == "orderedList" else "."
        return _list(node, lambda i: f"{start + i}{delim}")
    render = _RENDERERS.get(kind)
    if render is not None:
        return render(node)
    if holds_inline(node):
        return _paragraph(node)
    return _blocks(node.get("content", []))


def _list(node: Node, marker: Callable[[int], str]) -> str:
    items: list[str] = []
    for i, item in enumerate(list_items(node)):
        mark = marker(i)
        body = _blocks(item.get("content", []), in_item=True)
        items.append(_prefix(body, mark + " ", " " * (len(mark) + 1)) if body else mark)
    return "\n".join(items)


def _prefix(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    out = [first + lines[0]]
    out.extend(rest + line if line else rest.rstrip() for line in lines[1:])
    return "\n".join(out)


def _paragraph(node: Node) -> str:
    return _inline(node.get("content", []))


def _heading(node: Node) -> str:
    level = heading_level(node)
    inline = [
        n if n.get("type") != "hardBreak" else {"type": "text", "text": " "}
        for n in node.get("content", [])
    ]
    text = _inline(inline)
    if text.endswith("#"):
        text = text[:-1] + "\\#"
    return "#" * level + (" " + text if text else "")


def _blockquote(node: Node) -> str:
    return _prefix(_blocks(node.get("content", [])), "> ", "> ") or ">"


def _code_block(node: Node) -> str:
    text = text_of(node)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    language = code_language(node) or ""
    info = "" if re.search(r"[\s`]", language) else language
    return f"{fence}{info}\n{text}\n{fence}" if text else f"{fence}{info}\n{fence}"


_RENDERERS: Final[dict[str, Callable[[Node], str]]] = {
    "paragraph": _paragraph,
    "heading": _heading,
    "blockquote": _blockquote,
    "codeBlock": _code_block,
    "horizontalRule": lambda _node: "---",
    "hardBreak": lambda _node: "",
}


def _inline(nodes: list[Node]) -> str:
    while nodes and nodes[-1].get("type") == "hardBreak":  # a trailing `\` would be literal
        nodes = nodes[:-1]
    text = render_inline(nodes, _leaf, _wrap)
    text = _LINE_START_CHAR.sub(r"\\\1", text)
    return _LINE_START_NUMBER.sub(r"\1\\\2", text)


def _leaf(node: Node) -> str:
    if node.get("type") == "hardBreak":
        return "\\\n"
    text = text_of(node)  # a text node, or one we cannot place here: its text
    if has_mark(node, "code"):
        return text  # raw: the code span wraps it
    return _ENTITY.sub(r"\\&", _SPECIAL_CHARS.sub(r"\\\1", text))


def _wrap(mark: Mark, inner: str) -> str:
    kind = mark["type"]
    if kind == "code":
        return _code_span(inner)
    if kind == "link":
        return f"[{inner}]({_destination(link_href(mark))})"
    delim = _EMPHASIS.get(kind)
    core = inner.strip()
    if delim is None or not core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{delim}{core}{delim}{trail}"


def _code_span(text: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    padded = text.startswith("`") or text.endswith("`")
    padded = padded or (text.startswith(" ") and text.endswith(" ") and bool(text.strip()))
    return f"{fence} {text} {fence}" if padded else f"{fence}{text}{fence}"


def _destination(href: str) -> str:
    for raw, escaped in (("\\", "\\\\"), (" ", "%20"), ("(", "\\("), (")", "\\)")):
        href = href.replace(raw, escaped)
    return href.replace("<", "%3C").replace(">", "%3E").replace("\n", "%0A")
