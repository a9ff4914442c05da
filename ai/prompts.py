"""Prompts from a phase's guidance, the member's instructions, retrieved chunks and content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ai.providers import ChatMessage
from storage.repos.chunks import Hit

MAX_CONTEXT_CHARS = 12_000
MAX_CONTENT_CHARS = 8_000


@dataclass(frozen=True, slots=True)
class PhaseBrief:
    number: int
    title: str
    description: str
    guidance: str


def _context(hits: Sequence[Hit], titles: dict[int, str]) -> str:
    parts: list[str] = []
    used = 0
    for hit in hits:
        block = f"[phase {hit.phase}: {titles.get(hit.phase, '')}]\n{hit.text.strip()}"
        if used + len(block) > MAX_CONTEXT_CHARS:
            break
        parts.append(block)
        used += len(block)
    return "\n\n".join(parts) if parts else "(nothing written yet in the phases this builds on)"


def build_messages(
    phase: PhaseBrief,
    instructions: str,
    hits: Sequence[Hit],
    titles: dict[int, str],
    current: str,
) -> list[ChatMessage]:
    system = (
        "You draft one phase of a team's structured document. Write in markdown (headings,"
        " paragraphs, lists). Build on the context from earlier phases; do not invent facts"
        " that contradict it. Answer with the phase text only.\n\n"
        f"Phase {phase.number}: {phase.title}\n{phase.description}\n\nGuidance: {phase.guidance}"
    )
    content = current.strip()[:MAX_CONTENT_CHARS] or "(empty)"
    user = (
        f"Context from the phases this one builds on:\n\n{_context(hits, titles)}\n\n"
        f"Current content of this phase:\n\n{content}\n\n"
        f"Instructions: {instructions.strip() or 'Draft this phase.'}"
    )
    return [ChatMessage("system", system), ChatMessage("user", user)]
