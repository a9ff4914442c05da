"""Reading phase documents from REST: conversions of the live room, off the event loop.

Converting a long phase (100,000 paragraphs) to ProseMirror JSON, markdown and HTML costs
seconds of CPU; on the event loop, every socket and request of the node would wait for it.
So the live replica is only encoded on the loop (one call into yrs), and a worker thread
builds a fresh Doc from those bytes (pycrdt objects stay in the thread that made them) and
converts that. Results are cached per document and content, so the repeated reads of an
unchanged document (any viewer can repeat a GET) convert once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from pycrdt import Doc, XmlFragment

from collab.content import (
    fragment_to_prosemirror,
    prosemirror_to_html,
    prosemirror_to_markdown,
    prosemirror_to_text,
)
from collab.manager import RoomManager
from collab.room import Room
from collab.types import DocumentName

CONTENT = "content"
CACHE_BYTES: Final = 64 * 1024 * 1024
# Two threads: conversions are pure Python and share the GIL, more would not be faster; a
# pool of their own keeps a burst of them from taking every `to_thread` worker.
CONVERSION_THREADS: Final = 2

Key = tuple[str, bytes]


def content_fragment(doc: Any) -> XmlFragment:
    fragment: XmlFragment = doc.get(CONTENT, type=XmlFragment)
    return fragment


def content_json(doc: Any) -> dict[str, Any]:
    """A phase document's content as ProseMirror JSON: the start of every conversion."""
    return fragment_to_prosemirror(content_fragment(doc))


@dataclass(frozen=True, slots=True)
class Converted:
    """One state of a phase's content, in the forms its readers need."""

    body: bytes  # {"markdown", "html", "prosemirror"} as JSON: a phase GET's `content`
    markdown: str
    text: str  # plain text, blocks separated by blank lines

    @property
    def weight(self) -> int:
        return len(self.body) + len(self.markdown) + len(self.text)

    def prosemirror(self) -> dict[str, Any]:
        """Parsed from `body`: megabytes for a long phase, so call it in a thread."""
        parsed: dict[str, Any] = json.loads(self.body)["prosemirror"]
        return parsed

    def blocks(self) -> list[str]:
        return [block.strip() for block in self.text.split("\n\n") if block.strip()]


def convert(update: bytes) -> Converted:
    """Every form of the content held by `update` (a whole document); CPU only, no I/O."""
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    prosemirror = content_json(doc)
    markdown = prosemirror_to_markdown(prosemirror)
    html = prosemirror_to_html(prosemirror)
    body = f'{{"markdown":{_dumps(markdown)},"html":{_dumps(html)},"prosemirror":'
    body += f"{_dumps_doc(prosemirror)}}}"
    return Converted(body.encode(), markdown, prosemirror_to_text(prosemirror))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps_doc(doc: dict[str, Any]) -> str:
    """JSON of a ProseMirror doc, one top-level block at a time: json's C encoder holds the
    GIL (so the event loop waits) for as long as one call runs, a whole long document."""
    content = doc.get("content")
    if not isinstance(content, list) or not content:
        return _dumps(doc)
    head = _dumps({k: v for k, v in doc.items() if k != "content"})
    blocks = ",".join(_dumps(block) for block in content)
    return f'{head[:-1]}{"," if len(head) > 2 else ""}"content":[{blocks}]}}'


class ConversionCache:
    """Conversions in worker threads: one per key at a time, the results in an LRU by size.

    A key is the document name and a hash of the whole encoded document. A state vector
    alone would not do: a deletion changes the content but not the state vector.
    """

    def __init__(self, *, max_bytes: int, threads: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._done: OrderedDict[Key, Converted] = OrderedDict()
        self._running: dict[Key, concurrent.futures.Future[Converted]] = {}
        self._lock = threading.Lock()  # the pool's threads finish entries too
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, "content-conversion")
        self.conversions = 0  # for tests and metrics: how many actually ran

    async def get(self, name: str, update: bytes) -> Converted:
        key = (name, hashlib.blake2b(update, digest_size=16).digest())
        with self._lock:
            found = self._done.get(key)
            if found is not None:
                self._done.move_to_end(key)
                return found
            future = self._running.get(key)
            started = future is None
            if future is None:
                self.conversions += 1
                future = self._running[key] = self._pool.submit(convert, update)
        if started:  # outside the lock: a future already done calls back at once
            future.add_done_callback(lambda done: self._finish(key, done))
        # Shielded: a caller that gives up must not cancel what other callers wait for.
        return await asyncio.shield(asyncio.wrap_future(future))

    def _finish(self, key: Key, future: concurrent.futures.Future[Converted]) -> None:
        with self._lock:
            self._running.pop(key, None)
            if future.cancelled() or future.exception() is not None:
                return
            result = future.result()
            if result.weight > self._max_bytes:
                return
            self._done[key] = result
            self._bytes += result.weight
            while self._bytes > self._max_bytes:
                _, evicted = self._done.popitem(last=False)
                self._bytes -= evicted.weight


_CACHE: Final = ConversionCache(max_bytes=CACHE_BYTES, threads=CONVERSION_THREADS)


def conversions() -> ConversionCache:
    return _CACHE


async def read_room(room: Room) -> Converted:
    """The room's content converted: encoded here, on the loop (fast, in yrs), converted in
    a worker thread, or taken from the cache when the document has not changed."""
    return await _CACHE.get(room.name, room.doc.get_update())


async def read_phase(rooms: RoomManager, project_id: uuid.UUID, number: int) -> Converted:
    return await read_room(await rooms.get(DocumentName(project_id, number)))
