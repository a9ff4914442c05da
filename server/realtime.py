"""Wires the real-time core to storage: the update log, the journal, pub/sub and rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from collab.journal import Journal, open_journal
from collab.manager import RoomManager, Seeder, open_room_manager
from collab.pubsub import PubSub
from collab.pubsub.local import LocalPubSub
from collab.pubsub.redis import RedisPubSub, open_redis_pubsub
from collab.room import RoomLimits
from server.settings import Settings
from storage.repos.documents import PostgresUpdateLog


def room_limits(settings: Settings) -> RoomLimits:
    return RoomLimits(
        max_document_bytes=settings.ws_max_document_bytes,
        idle_unload_s=settings.room_idle_unload_s,
        compaction_threshold=settings.compaction_threshold,
        awareness_clients_per_peer=settings.ws_awareness_clients_per_peer,
        awareness_bytes_per_peer=settings.ws_awareness_bytes,
        keepalive_s=settings.ws_keepalive_s,
        anti_entropy_s=settings.anti_entropy_s,
    )


@asynccontextmanager
async def open_rooms(
    settings: Settings,
    db: asyncpg.Pool,
    *,
    pubsub: PubSub | None = None,
    on_commit: Callable[[float], None] | None = None,
    seeder: Seeder | None = None,
) -> AsyncIterator[RoomManager]:
    """Rooms over the journal; on exit every accepted update is committed before the pool
    closes (the exit stack unwinds rooms, then the journal)."""
    store = PostgresUpdateLog(db)
    async with AsyncExitStack() as stack:
        redis_pubsub: RedisPubSub | None = None
        if pubsub is None and settings.redis_url:
            redis_pubsub = await stack.enter_async_context(
                open_redis_pubsub(
                    settings.redis_url,
                    prefix=settings.redis_prefix,
                    outbox_bytes=settings.pubsub_outbox_bytes,
                )
            )
            pubsub = redis_pubsub
        journal = await stack.enter_async_context(
            open_journal(
                Journal(
                    store,
                    max_batch=settings.journal_max_batch,
                    max_bytes=settings.journal_queue_bytes,
                    on_commit=on_commit,
                )
            )
        )
        manager = await stack.enter_async_context(
            open_room_manager(
                log_store=store,
                journal=journal,
                pubsub=pubsub or LocalPubSub(),
                limits=room_limits(settings),
                seeder=seeder,
            )
        )
        yield manager
