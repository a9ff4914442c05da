"""Human-readable labels shared by the PDF and Word exports."""

from __future__ import annotations

from datetime import UTC, datetime

from server.exports.model import ExportPhase


def timestamp(moment: datetime) -> str:
    """`2025-03-01 14:05 UTC`; a naive datetime is taken to be UTC already."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def chapter_title(phase: ExportPhase) -> str:
    return f"{phase.number}. {phase.title}"


def status_label(status: str) -> str:
    """`in_progress` → `In progress`."""
    words = status.replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize() or "Unknown"
