"""The RAG index: chunk a phase, re-embed only the chunks whose content hash changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from ai.providers import EmbeddingProvider
from ai.rag.chunking import chunk_blocks
from storage.repos import chunks
from storage.repos.chunks import Hit


class RagIndex:
    def __init__(
        self,
        db: asyncpg.Pool,
        embedder: EmbeddingProvider,
        *,
        max_chars: int = 1200,
        overlap_chars: int = 200,
    ) -> None:
        self._db = db
        self.embedder = embedder
        self._max_chars = max_chars
        self._overlap = overlap_chars
        self.embedded_chunks = 0  # chunks sent to the embedder since start (a metric)

    async def prepare(self) -> None:
        await chunks.ensure_hnsw_index(self._db, self.embedder.model, self.embedder.dimensions)

    async def index_phase(self, project_id: uuid.UUID, phase: int, blocks: list[str]) -> int:
        """Bring a phase's chunks up to date; return how many texts were sent to the embedder."""
        fresh = chunk_blocks(blocks, max_chars=self._max_chars, overlap_chars=self._overlap)
        model = self.embedder.model
        stored = await chunks.stored_hashes(self._db, project_id, phase, model)
        changed = [c for c in fresh if stored.get(c.index) != c.content_hash]
        # A chunk that only moved (an edit earlier changed the count) keeps its vector.
        known = set(stored.values())
        moved = [c.content_hash for c in changed if c.content_hash in known]
        vectors = await chunks.vectors_by_hash(self._db, project_id, phase, model, moved)
        new = [c for c in changed if c.content_hash not in vectors]
        if new:
            embedded = await self.embedder.embed([c.text for c in new])
            vectors.update({c.content_hash: v for c, v in zip(new, embedded, strict=True)})
        rows = [(c.index, c.content_hash, c.text, vectors[c.content_hash]) for c in changed]
        if rows or len(stored) > len(fresh):
            async with self._db.acquire() as conn, conn.transaction():
                await chunks.replace_chunks(conn, project_id, phase, model, rows, len(fresh))
        self.embedded_chunks += len(new)
        return len(new)

    async def search(
        self,
        project_id: uuid.UUID,
        query: str,
        k: int,
        phases: Sequence[int] | None = None,
    ) -> list[Hit]:
        if not query.strip() or (phases is not None and not phases):
            return []
        [vector] = await self.embedder.embed([query])
        return await chunks.search(
            self._db, project_id, self.embedder.model, self.embedder.dimensions, vector, k, phases
        )
