"""JSON Schema (draft 2020-12) of the JSON export, `format_version` 1."""

from __future__ import annotations

from typing import Any, Final

from collab.content.schema import MARK_TYPES

_STRING: Final = {"type": "string"}
_TIME: Final = {"type": "string", "format": "date-time"}
_UUID: Final = {"type": "string", "format": "uuid"}
_SCALAR: Final = {"type": ["string", "number", "integer", "boolean", "null"]}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object: every listed property required, nothing else allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_NODE_TYPES: Final = [
    "doc",
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "blockquote",
    "codeBlock",
    "horizontalRule",
    "hardBreak",
    "text",
]
_MARK_TYPES: Final = list(MARK_TYPES)
_ATTRS: Final = {"type": "object", "additionalProperties": _SCALAR}

_NODE: Final = {
    "type": "object",
    "properties": {
        "type": {"enum": _NODE_TYPES},
        "attrs": _ATTRS,
        "content": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "text": _STRING,
        "marks": {"type": "array", "items": {"$ref": "#/$defs/mark"}},
    },
    "required": ["type"],
    "additionalProperties": False,
}
_MARK: Final = {
    "type": "object",
    "properties": {"type": {"enum": _MARK_TYPES}, "attrs": _ATTRS},
    "required": ["type"],
    "additionalProperties": False,
}
_DOC: Final = {
    "allOf": [{"$ref": "#/$defs/node"}],
    "properties": {"type": {"const": "doc"}},
}

_VERSION: Final = _object(
    {
        "id": _UUID,
        "label": _STRING,
        "source": {"enum": ["manual", "completion", "ai", "restore"]},
        "created_at": _TIME,
    }
)
_PHASE: Final = _object(
    {
        "number": {"type": "integer", "minimum": 1},
        "key": _STRING,
        "title": _STRING,
        "description": _STRING,
        "status": {"enum": ["not_started", "in_progress", "completed", "stale"]},
        "updated_at": _TIME,
        "content": {"$ref": "#/$defs/doc"},
        "markdown": _STRING,
        "versions": {"type": "array", "items": {"$ref": "#/$defs/version"}},
    }
)
_MEMBER: Final = _object(
    {
        "display_name": _STRING,
        "email": _STRING,
        "role": {"enum": ["owner", "editor", "viewer"]},
    }
)
_PROJECT: Final = _object(
    {
        "id": _UUID,
        "name": _STRING,
        "description": _STRING,
        "template": _STRING,
        "generated_at": _TIME,
    }
)

JSON_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:unified-assistant:export:project:1",
    "title": "Unified Assistant project export",
    **_object(
        {
            "format_version": {"const": 1},
            "project": {"$ref": "#/$defs/project"},
            "members": {"type": "array", "items": {"$ref": "#/$defs/member"}},
            "phases": {"type": "array", "items": {"$ref": "#/$defs/phase"}},
        }
    ),
    "$defs": {
        "project": _PROJECT,
        "member": _MEMBER,
        "phase": _PHASE,
        "version": _VERSION,
        "doc": _DOC,
        "node": _NODE,
        "mark": _MARK,
    },
}
