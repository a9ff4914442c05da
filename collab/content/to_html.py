"""ProseMirror JSON to semantic, escaped HTML (the export and preview format)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Final
from urllib.parse import urlsplit

from collab.content.schema import Mark, Node, render_inline

_SIMPLE_BLOCKS: Final = {
    "paragraph": "p",
    "bulletList": "ul",
    "listItem": "li",
    "blockquote": "blockquote",
}
_MARK_TAGS: Final = {"bold": "strong", "italic": "em", "code": "code", "strike": "s"}
_UNSAFE_SCHEMES: Final = frozenset({"javascript", "vbscript", "data"})


def prosemirror_to_html(doc: Node) -> str:
    return _children(doc)


def _children(node: Node) -> str:
    content: list[Node] = node.get("content", [])
    if any(child.get("type") in ("text", "hardBreak") for child in content):
        return render_inline(content, _leaf, _wrap)
    return "".join(_block(child) for child in content)


def _block(node: Node) -> str:
    kind = str(node.get("type"))
    tag = _SIMPLE_BLOCKS.get(kind)
    if tag is not None:
        return f"<{tag}>{_children(node)}</{tag}>"
    render = _SPECIAL_BLOCKS.get(kind, _children)
    return render(node)


def _heading(node: Node) -> str:
    level = min(max(int(node.get("attrs", {}).get("level") or 1), 1), 6)
    return f"<h{level}>{_children(node)}</h{level}>"


def _ordered_list(node: Node) -> str:
    start = node.get("attrs", {}).get("start", 1)
    start_attr = f' start="{int(start)}"' if start not in (None, 1) else ""
    return f"<ol{start_attr}>{_children(node)}</ol>"


def _code_block(node: Node) -> str:
    language = node.get("attrs", {}).get("language")
    cls = f' class="language-{escape(str(language))}"' if language else ""
    text = "".join(str(child.get("text", "")) for child in node.get("content", []))
    return f"<pre><code{cls}>{escape(text, quote=False)}</code></pre>"


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
    return escape(str(node.get("text", "")), quote=False)


def _wrap(mark: Mark, inner: str) -> str:
    kind = mark["type"]
    if kind == "link":
        href = _safe_href(str(mark.get("attrs", {}).get("href") or ""))
        return f'<a href="{escape(href)}">{inner}</a>' if href else inner
    tag = _MARK_TAGS.get(kind)
    return f"<{tag}>{inner}</{tag}>" if tag else inner


def _safe_href(href: str) -> str:
    try:
        scheme = urlsplit(href.strip()).scheme.lower()
    except ValueError:
        return ""
    return "" if scheme in _UNSAFE_SCHEMES else href
