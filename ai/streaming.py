"""A generation written token by token into a phase room's `ai` map.

Tokens that arrive within a few milliseconds of each other become one CRDT change (one
update to fan out), so a fast model does not cost one frame per token per member.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, Text

from ai.errors import AiError
from ai.providers import ChatMessage, ChatProvider
from collab.room import Room
from collab.types import Origin

COALESCE_S = 0.005


class LiveText:
    """The `ai` map of one phase document, driven by one generation."""

    def __init__(self, room: Room, generation_id: uuid.UUID) -> None:
        self._room = room
        self._id = str(generation_id)
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self.text = ""

    def _change(self, change: Callable[[Map[Any]], None]) -> None:
        def apply(doc: Doc[Any]) -> None:
            change(doc.get("ai", type=Map))

        self._room.server_change(apply, Origin.AI)

    def start(self, *, model: str, started_by: str) -> None:
        def reset(ai: Map[Any]) -> None:
            ai["id"] = self._id
            ai["status"] = "streaming"
            ai["model"] = model
            ai["started_by"] = started_by
            ai["error"] = None
            ai["text"] = Text()

        self._change(reset)

    def append(self, delta: str) -> None:
        self.text += delta
        self._pending.append(delta)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(COALESCE_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        chunk = "".join(self._pending)
        self._pending.clear()

        def grow(ai: Map[Any]) -> None:
            text = ai.get("text")
            if isinstance(text, Text):
                text += chunk

        self._change(grow)

    def finish(self, status: str, error: str | None) -> None:
        self.flush()

        def close(ai: Map[Any]) -> None:
            if ai.get("id") == self._id:
                ai["status"] = status
                ai["error"] = error

        self._change(close)


@dataclass
class Outcome:
    status: str = "error"
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_s: float | None = None
    tokens: int = 0


@dataclass(eq=False)
class Run:
    """One running generation: its live text, its SSE listeners and its outcome."""

    id: uuid.UUID
    project_id: uuid.UUID
    phase: int
    live: LiveText
    listeners: set[asyncio.Queue[str | None]] = field(default_factory=set)
    outcome: Outcome = field(default_factory=Outcome)
    task: asyncio.Task[None] | None = None

    def emit(self, delta: str) -> None:
        self.live.append(delta)
        for queue in self.listeners:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(delta)

    def close_listeners(self) -> None:
        for queue in self.listeners:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


async def stream_into(
    run: Run,
    provider: ChatProvider,
    messages: list[ChatMessage],
    *,
    temperature: float,
    max_tokens: int,
) -> None:
    """Stream the model's answer into the run; sets run.outcome (raises only CancelledError)."""
    started = time.perf_counter()
    outcome = run.outcome
    try:
        async with provider.stream(messages, temperature=temperature, max_tokens=max_tokens) as it:
            async for delta in it:
                if outcome.first_token_s is None:
                    outcome.first_token_s = time.perf_counter() - started
                outcome.tokens += 1
                run.emit(delta)
            usage = getattr(it, "usage", None)
            if usage is not None:
                outcome.prompt_tokens = usage.prompt_tokens
                outcome.completion_tokens = usage.completion_tokens
        outcome.status = "done"
    except AiError as exc:
        outcome.status, outcome.error = "error", str(exc) or type(exc).__name__
    if outcome.completion_tokens is None:
        outcome.completion_tokens = outcome.tokens
