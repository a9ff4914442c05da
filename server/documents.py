"""Reading and writing phase documents from REST: conversions over the live room."""

from __future__ import annotations

import uuid
from typing import Any

from pycrdt import XmlFragment

from collab.content import (
    fragment_to_prosemirror,
    prosemirror_to_html,
    prosemirror_to_markdown,
)
from collab.manager import RoomManager
from collab.types import DocumentName

CONTENT = "content"


def content_fragment(doc: Any) -> XmlFragment:
    fragment: XmlFragment = doc.get(CONTENT, type=XmlFragment)
    return fragment


def content_json(doc: Any) -> dict[str, Any]:
    """A phase document's content as ProseMirror JSON: the start of every conversion."""
    return fragment_to_prosemirror(content_fragment(doc))


async def phase_content(rooms: RoomManager, project_id: uuid.UUID, number: int) -> dict[str, Any]:
    room = await rooms.get(DocumentName(project_id, number))
    doc = content_json(room.doc)
    return {
        "markdown": prosemirror_to_markdown(doc),
        "html": prosemirror_to_html(doc),
        "prosemirror": doc,
    }
