"""ProseMirror JSON to plain text, for search indexing: one block per text block."""

from __future__ import annotations

from collab.content.schema import Node, text_of

_TEXTBLOCKS = frozenset({"paragraph", "heading", "codeBlock"})


def prosemirror_to_text(doc: Node) -> str:
    """The text of every paragraph, heading and code block, separated by blank lines."""
    blocks: list[str] = []
    _collect(doc, blocks)
    return "\n\n".join(block for block in blocks if block)


def _collect(node: Node, blocks: list[str]) -> None:
    if node.get("type") in _TEXTBLOCKS:
        blocks.append(_inline_text(node.get("content", [])).strip())
        return
    for child in node.get("content", []):
        if child.get("type") == "text":
            blocks.append(_inline_text([child]).strip())
        else:
            _collect(child, blocks)


def _inline_text(nodes: list[Node]) -> str:
    return "".join(text_of(node) for node in nodes)
