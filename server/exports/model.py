"""What a renderer gets: a project snapshot taken from the live documents, no I/O left."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Progress = Callable[[int], None]  # percent 0..100, called as rendering advances


@dataclass(frozen=True, slots=True)
class ExportMember:
    display_name: str
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class ExportVersion:
    id: uuid.UUID
    label: str
    source: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportPhase:
    number: int
    key: str
    title: str
    description: str
    status: str
    updated_at: datetime
    content: dict[str, Any]  # ProseMirror JSON ({"type": "doc", ...})
    markdown: str
    versions: tuple[ExportVersion, ...] = ()


@dataclass(frozen=True, slots=True)
class ExportProject:
    id: uuid.UUID
    name: str
    description: str
    template: str
    generated_at: datetime
    members: tuple[ExportMember, ...]
    phases: tuple[ExportPhase, ...] = field(default_factory=tuple)
