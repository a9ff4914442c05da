"""Running generations: start (one per phase), stream into the room, cancel, finish.

A generation runs on the node that started it; cancel requests reach that node through the
room manager's control channel, so any editor on any node can stop it. Each user has at most
`max_active_per_user` generations streaming at once, over every project and node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from ai.errors import AiError, ProviderUnavailable, QuotaExceeded
from ai.meta import show_quietly
from ai.prompts import PhaseBrief, build_messages
from ai.providers import ChatMessage, ChatProvider
from ai.rag.index import RagIndex
from ai.streaming import LiveText, Outcome, Run, stream_into
from collab.content import markdown_to_prosemirror
from collab.manager import RoomManager
from collab.types import DocumentName
from storage.repos import generations as repo
from storage.repos import versions

log = logging.getLogger(__name__)

CANCEL = "cancel_generation"


@dataclass(frozen=True, slots=True)
class Request:
    project_id: uuid.UUID
    phase: PhaseBrief
    depends_on: Sequence[int]
    titles: dict[int, str]
    current: str
    instructions: str
    temperature: float
    max_tokens: int
    user_id: uuid.UUID


class Generations:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        rooms: RoomManager,
        chat: ChatProvider | None,
        index: RagIndex,
        group: asyncio.TaskGroup,
        top_k: int = 6,
        heartbeat_s: float = 2.0,
        max_active_per_user: int = 3,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self._db = db
        self._rooms = rooms
        self.chat = chat
        self._index = index
        self._group = group
        self._top_k = top_k
        self._heartbeat = heartbeat_s
        self._max_active = max_active_per_user
        self._on_outcome = on_outcome
        self.runs: dict[uuid.UUID, Run] = {}
        rooms.on_control(CANCEL, self._cancel_message)

    async def start(self, request: Request) -> Run:
        if self.chat is None:
            raise ProviderUnavailable()
        for abandoned in await repo.fail_abandoned(self._db, self._heartbeat * 10):
            await show_quietly(self._rooms, abandoned)
        # Before retrieval (an embedding request): a user at the limit costs one count.
        if await repo.active_for(self._db, request.user_id) >= self._max_active:
            raise QuotaExceeded(self._max_active)
        query = f"{request.phase.title}. {request.phase.guidance} {request.instructions}"
        try:
            hits = await self._index.search(
                request.project_id, query, self._top_k, request.depends_on
            )
        except AiError as exc:  # retrieval is an aid: draft without context rather than fail
            log.warning("retrieval failed, generating without context: %s", exc)
            hits = []
        messages = build_messages(
            request.phase, request.instructions, hits, request.titles, request.current
        )
        record = await repo.start(
            self._db,
            project_id=request.project_id,
            phase=request.phase.number,
            model=self.chat.model,
            instructions=request.instructions,
            prompt=[{"role": m.role, "content": m.content} for m in messages],
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            started_by=request.user_id,
            max_active=self._max_active,
        )
        if record is None:  # another request of this user won the last slot meanwhile
            raise QuotaExceeded(self._max_active)
        await show_quietly(self._rooms, record)  # before the run starts, so before its end
        room = await self._rooms.get(DocumentName(request.project_id, request.phase.number))
        run = Run(record.id, request.project_id, request.phase.number, LiveText(room, record.id))
        run.live.start(model=self.chat.model, started_by=str(request.user_id))
        self.runs[run.id] = run
        run.task = self._group.create_task(
            self._drive(run, messages, request), name=f"generation {run.id}"
        )
        return run

    async def _drive(self, run: Run, messages: list[ChatMessage], request: Request) -> None:
        assert self.chat is not None
        try:
            async with asyncio.TaskGroup() as group:
                beat = group.create_task(self._beat(run))
                try:
                    await stream_into(
                        run,
                        self.chat,
                        messages,
                        temperature=request.temperature,
                        max_tokens=request.max_tokens,
                    )
                finally:
                    beat.cancel()
        except asyncio.CancelledError:
            run.outcome.status = "cancelled"
            run.outcome.error = run.outcome.error or "cancelled"
            raise
        finally:
            await asyncio.shield(self._finish(run))

    async def _beat(self, run: Run) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            await repo.beat(self._db, run.id, run.live.text, run.outcome.first_token_s is not None)

    async def _finish(self, run: Run) -> None:
        self.runs.pop(run.id, None)
        outcome = run.outcome
        try:
            record = await repo.finish(
                self._db,
                run.id,
                status=outcome.status,
                text=run.live.text,
                error=outcome.error,
                usage=(outcome.prompt_tokens, outcome.completion_tokens),
                first_token_s=outcome.first_token_s,
            )
            status = record.status if record else outcome.status
            run.live.finish(status, outcome.error if status != "done" else None)
            if record is not None:
                await show_quietly(self._rooms, record)
            if record is not None and status == "done":
                await self._save_draft(record)
        except Exception:
            log.exception("could not record the end of generation %s", run.id)
        finally:
            run.close_listeners()
            if self._on_outcome is not None:
                self._on_outcome(outcome)

    async def _save_draft(self, record: repo.Generation) -> None:
        await versions.create_version(
            self._db,
            project_id=record.project_id,
            number=record.phase,
            label=f"AI draft ({record.model})",
            source="ai",
            created_by=record.started_by,
            prosemirror=markdown_to_prosemirror(record.text),
            markdown=record.text,
        )

    def cancel_here(self, generation_id: uuid.UUID) -> bool:
        run = self.runs.get(generation_id)
        if run is None or run.task is None:
            return False
        run.task.cancel()
        return True

    async def cancel(self, project_id: uuid.UUID, generation_id: uuid.UUID) -> repo.Generation:
        """Stop a generation wherever it runs; the partial text is kept."""
        record = await repo.get(self._db, project_id, generation_id)
        if record.status == "streaming" and not self.cancel_here(generation_id):
            self._rooms.send_control(CANCEL, {"id": str(generation_id)})
            cancelled = await repo.cancel(self._db, generation_id)
            if cancelled is not None:  # shown here too: the node running it may be gone
                await show_quietly(self._rooms, cancelled)
        return await repo.get(self._db, project_id, generation_id)

    def _cancel_message(self, message: dict[str, object]) -> None:
        with contextlib.suppress(ValueError, TypeError):
            self.cancel_here(uuid.UUID(str(message["id"])))

    def stop_all(self, reason: str) -> None:
        for run in list(self.runs.values()):
            run.outcome.error = reason
            if run.task is not None:
                run.task.cancel()


@contextlib.asynccontextmanager
async def open_generations(
    *,
    db: asyncpg.Pool,
    rooms: RoomManager,
    chat: ChatProvider | None,
    index: RagIndex,
    max_active_per_user: int = 3,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> AsyncIterator[Generations]:
    async with asyncio.TaskGroup() as group:
        generations = Generations(
            db=db,
            rooms=rooms,
            chat=chat,
            index=index,
            group=group,
            max_active_per_user=max_active_per_user,
            on_outcome=on_outcome,
        )
        try:
            yield generations
        finally:
            generations.stop_all("the server is shutting down")
