"""JSON export: the project as data, in the shape `JSON_SCHEMA` describes.

The shape is stable: keys only get added with a new `format_version`. Times are ISO 8601,
ids are UUID strings, phase content is Tiptap's ProseMirror JSON plus its markdown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from collab.content import fit_schema
from server.exports.model import ExportMember, ExportPhase, ExportProject, ExportVersion

FORMAT_VERSION: Final = 1


def render_json(project: ExportProject) -> bytes:
    return json.dumps(project_document(project), ensure_ascii=False, indent=2).encode("utf-8")


def project_document(project: ExportProject) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "project": {
            "id": str(project.id),
            "name": project.name,
            "description": project.description,
            "template": project.template,
            "generated_at": _time(project.generated_at),
        },
        "members": [_member(member) for member in project.members],
        "phases": [_phase(phase) for phase in project.phases],
    }


def _member(member: ExportMember) -> dict[str, Any]:
    return {"display_name": member.display_name, "email": member.email, "role": member.role}


def _phase(phase: ExportPhase) -> dict[str, Any]:
    return {
        "number": phase.number,
        "key": phase.key,
        "title": phase.title,
        "description": phase.description,
        "status": phase.status,
        "updated_at": _time(phase.updated_at),
        "content": fit_schema(phase.content),  # the schema below lists every node type
        "markdown": phase.markdown,
        "versions": [_version(version) for version in phase.versions],
    }


def _version(version: ExportVersion) -> dict[str, Any]:
    return {
        "id": str(version.id),
        "label": version.label,
        "source": version.source,
        "created_at": _time(version.created_at),
    }


def _time(moment: datetime) -> str:
    """RFC 3339; a naive datetime is taken to be UTC (as the database stores it)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()
