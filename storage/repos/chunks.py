"""RAG chunks: text, content hash and embedding per (project, phase, model, index)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from storage.migrate import MIGRATION_LOCK
from storage.sql import Db

_SAFE_MODEL = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class StoredChunk:
    chunk_index: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class Hit:
    phase: int
    chunk_index: int
    text: str
    score: float


def index_name(model: str, dimensions: int) -> str:
    return f"rag_chunks_hnsw_{_SAFE_MODEL.sub('_', model.lower())[:40]}_{dimensions}"


async def ensure_hnsw_index(pool: asyncpg.Pool, model: str, dimensions: int) -> None:
    """One HNSW cosine index per model: vectors of different models never share a space.

    Start-up DDL, so under the migration lock (see MIGRATION_LOCK): nodes starting together
    would otherwise race on `CREATE INDEX IF NOT EXISTS`, and the losers exit.
    """
    name = index_name(model, dimensions)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)  # until commit
        await conn.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON rag_chunks"
            f" USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops)"
            " WHERE model = " + _literal(model)
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def stored_hashes(db: Db, project_id: uuid.UUID, phase: int, model: str) -> dict[int, str]:
    rows = await db.fetch(
        "SELECT chunk_index, content_hash FROM rag_chunks"
        " WHERE project_id = $1 AND phase = $2 AND model = $3",
        project_id,
        phase,
        model,
    )
    return {r["chunk_index"]: r["content_hash"] for r in rows}


async def vectors_by_hash(
    db: Db, project_id: uuid.UUID, phase: int, model: str, hashes: Sequence[str]
) -> dict[str, list[float]]:
    """Embeddings already stored for these texts (chunks that only moved)."""
    rows = await db.fetch(
        "SELECT DISTINCT ON (content_hash) content_hash, embedding FROM rag_chunks"
        " WHERE project_id = $1 AND phase = $2 AND model = $3 AND content_hash = ANY($4)",
        project_id,
        phase,
        model,
        list(hashes),
    )
    return {r["content_hash"]: r["embedding"].to_list() for r in rows}


async def replace_chunks(
    conn: Db,
    project_id: uuid.UUID,
    phase: int,
    model: str,
    changed: Sequence[tuple[int, str, str, list[float]]],
    keep: int,
) -> None:
    """Upsert changed (index, hash, text, vector) rows and drop indexes >= keep."""
    await conn.executemany(
        "INSERT INTO rag_chunks (project_id, phase, model, chunk_index, content_hash, text,"
        " embedding) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT"
        " (project_id, phase, model, chunk_index) DO UPDATE SET content_hash ="
        " excluded.content_hash, text = excluded.text, embedding = excluded.embedding,"
        " updated_at = now()",
        [(project_id, phase, model, i, h, t, v) for i, h, t, v in changed],
    )
    await conn.execute(
        "DELETE FROM rag_chunks WHERE project_id = $1 AND phase = $2 AND model = $3"
        " AND chunk_index >= $4",
        project_id,
        phase,
        model,
        keep,
    )


async def search(
    db: asyncpg.Pool,
    project_id: uuid.UUID,
    model: str,
    dimensions: int,
    query: list[float],
    k: int,
    phases: Sequence[int] | None,
) -> list[Hit]:
    dims = int(dimensions)
    rows = await db.fetch(
        f"SELECT phase, chunk_index, text, 1 - (embedding::vector({dims}) <=> $3::vector({dims}))"
        " AS score FROM rag_chunks WHERE project_id = $1 AND model = $2"
        " AND ($5::smallint[] IS NULL OR phase = ANY($5))"
        f" ORDER BY embedding::vector({dims}) <=> $3::vector({dims}) LIMIT $4",
        project_id,
        model,
        query,
        k,
        None if phases is None else list(phases),
    )
    return [Hit(r["phase"], r["chunk_index"], r["text"], float(r["score"])) for r in rows]
