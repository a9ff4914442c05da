"""A y-websocket client in Python (pycrdt + our codec) for tests that need raw control."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import ywire
from tests.support import wait_changed


@dataclass
class YClient:
    ws: ClientConnection
    doc: Doc = field(default_factory=Doc)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    awareness: list[bytes] = field(default_factory=list)
    closed: asyncio.Future[tuple[int, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def content(self) -> XmlFragment:
        fragment: XmlFragment = self.doc.get("content", type=XmlFragment)
        return fragment

    def paragraphs(self) -> list[str]:
        return [str(child) for child in self.content.children]

    async def send(self, *messages: ywire.YMessage) -> None:
        for message in messages:
            await self.ws.send(ywire.encode(message))

    async def add_paragraph(self, text: str) -> None:
        before = self.doc.get_state()
        self.content.children.append(XmlElement("paragraph", None, [XmlText(text)]))
        await self.send(ywire.Update(self.doc.get_update(before)))

    def _handle(self, message: ywire.YMessage) -> ywire.YMessage | None:
        if isinstance(message, ywire.SyncStep1):
            return ywire.SyncStep2(self.doc.get_update(message.state_vector))
        if isinstance(message, ywire.SyncStep2 | ywire.Update):
            self.doc.apply_update(message.update)
            if isinstance(message, ywire.SyncStep2):
                self.synced.set()
            self.changed.set()
        elif isinstance(message, ywire.AwarenessMessage):
            self.awareness.append(message.payload)
            self.changed.set()
        return None

    async def run(self) -> None:
        try:
            async for frame in self.ws:
                assert isinstance(frame, bytes)
                for message in ywire.decode(frame, max_size=1 << 30):
                    reply = self._handle(message)
                    if reply is not None:
                        await self.send(reply)
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.close_code, self.ws.close_reason
            if not self.closed.done():
                self.closed.set_result((rcvd[0] or 1006, rcvd[1] or ""))
            self.changed.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        await wait_changed(self.changed, predicate, timeout)


@contextlib.asynccontextmanager
async def yclient(
    base_ws: str, document: str, token: str | None, *, sync: bool = True, **kwargs: object
) -> AsyncIterator[YClient]:
    url = f"{base_ws}/yjs/{document}" + (f"?token={token}" if token else "")
    async with connect(url, max_size=None, **kwargs) as ws:  # type: ignore[arg-type]
        client = YClient(ws)
        task = asyncio.create_task(client.run())
        try:
            if sync:
                await client.send(ywire.SyncStep1(client.doc.get_state()))
                async with asyncio.timeout(10):
                    await client.synced.wait()
            yield client
        finally:
            await ws.close()
            await task
