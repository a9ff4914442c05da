"""Wires the AI layer: providers from settings, the RAG index, running generations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from ai.generations import Generations, open_generations
from ai.providers import ChatProvider, EmbeddingProvider
from ai.rag.index import RagIndex
from ai.streaming import Outcome
from collab.manager import RoomManager
from server.documents import read_phase
from server.metrics import Metrics
from server.settings import Settings

log = logging.getLogger(__name__)


def chat_provider(settings: Settings) -> ChatProvider | None:
    if not settings.chat_configured:
        return None
    from ai.providers.openai import OpenAIChat

    return OpenAIChat(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        model=settings.ai_model,
        timeout_s=settings.ai_timeout_s,
        max_retries=settings.ai_max_retries,
    )


def embedding_provider(settings: Settings) -> EmbeddingProvider:
    choice = settings.embedding_provider
    if choice == "auto":
        choice = "openai" if settings.chat_configured else "hashing"
    if choice == "openai":
        from ai.providers.openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.embedding_model,
            dimensions=settings.embedding_dimensions,
            timeout_s=settings.ai_timeout_s,
            max_retries=settings.ai_max_retries,
        )
    if choice == "local":
        from ai.providers.local import LocalEmbedder

        local: EmbeddingProvider = LocalEmbedder()
        return local
    from ai.providers.hashing import HashingEmbedder

    return HashingEmbedder()


@dataclass(slots=True)
class Assistant:
    index: RagIndex
    generations: Generations
    rooms: RoomManager

    async def reindex(self, project_id: uuid.UUID, number: int) -> int:
        content = await read_phase(self.rooms, project_id, number)
        return await self.index.index_phase(project_id, number, content.blocks())

    async def reindex_quietly(self, project_id: uuid.UUID, number: int) -> None:
        try:
            await self.reindex(project_id, number)
        except Exception:
            if _cancelling():
                raise asyncio.CancelledError() from None
            log.exception(
                "indexing phase %s of %s failed; it is retried on the next edit", number, project_id
            )


def _cancelling() -> bool:
    """asyncpg can turn a cancel that lands in its command timeout into a TimeoutError:
    swallowing that would lose the cancel, and the task would never end (nor the server)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _observe(metrics: Metrics, outcome: Outcome) -> None:
    metrics.generations.labels(outcome.status).inc()
    if outcome.first_token_s is not None:
        metrics.first_token.observe(outcome.first_token_s)
    metrics.ai_tokens.inc(outcome.tokens)


@contextlib.asynccontextmanager
async def open_assistant(
    settings: Settings, db: asyncpg.Pool, rooms: RoomManager, metrics: Metrics
) -> AsyncIterator[Assistant]:
    embedder, chat = embedding_provider(settings), chat_provider(settings)
    index = RagIndex(
        db, embedder, max_chars=settings.rag_chunk_chars, overlap_chars=settings.rag_overlap_chars
    )
    try:
        await index.prepare()
        async with open_generations(
            db=db,
            rooms=rooms,
            chat=chat,
            index=index,
            max_active_per_user=settings.ai_max_active_per_user,
            on_outcome=lambda outcome: _observe(metrics, outcome),
        ) as generations:
            yield Assistant(index, generations, rooms)
    finally:
        for provider in (chat, embedder):
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
