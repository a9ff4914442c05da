"""What the AI layer needs from a model: streamed chat and text embeddings.

`ChatProvider.stream(...)` is an async context manager that yields an async iterator of
text deltas. Leaving the context, early or not, closes the upstream HTTP response at once:
that is how a cancelled generation stops the upstream request. Implementations retry only
before the first delta; afterwards a failure raises `StreamBroken` and the caller keeps
what it already received. An iterator may also expose `usage: Usage | None` once exhausted.

Implementations: `openai.OpenAIChat`, `openai.OpenAIEmbeddings` (any OpenAI-compatible
server), `hashing.HashingEmbedder` (offline default), `local.LocalEmbedder` (optional
extra `local-embeddings`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts, when the upstream reports them at the end of a stream."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatProvider(Protocol):
    model: str

    def stream(
        self, messages: list[ChatMessage], *, temperature: float, max_tokens: int
    ) -> AbstractAsyncContextManager[AsyncIterator[str]]: ...


class EmbeddingProvider(Protocol):
    model: str
    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in input order, each of length `dimensions`."""
        ...


__all__ = ["ChatMessage", "ChatProvider", "EmbeddingProvider", "Role", "Usage"]
