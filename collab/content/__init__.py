"""Phase content: the one converter between the CRDT and every other form.

    XmlFragment (y-prosemirror) ⇄ ProseMirror JSON ⇄ markdown
                                   ProseMirror JSON → HTML, plain text

ProseMirror JSON is Tiptap's `getJSON()` shape, a plain `dict[str, Any]`.
"""

from collab.content.fragment import fragment_to_prosemirror, plain_text, write_prosemirror
from collab.content.from_markdown import markdown_to_prosemirror
from collab.content.schema import (
    InvalidContent,
    Mark,
    Node,
    as_blocks,
    empty_doc,
    fit_schema,
    holds_inline,
    list_items,
    text_of,
)
from collab.content.to_html import prosemirror_to_html
from collab.content.to_markdown import prosemirror_to_markdown
from collab.content.to_text import prosemirror_to_text

__all__ = [
    "InvalidContent",
    "Mark",
    "Node",
    "as_blocks",
    "empty_doc",
    "fit_schema",
    "fragment_to_prosemirror",
    "holds_inline",
    "list_items",
    "markdown_to_prosemirror",
    "plain_text",
    "prosemirror_to_html",
    "prosemirror_to_markdown",
    "prosemirror_to_text",
    "text_of",
    "write_prosemirror",
]
