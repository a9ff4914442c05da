"""A minimal Hocuspocus client in Python (pycrdt + our codec) for raw-protocol tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import hocuspocus as hp
from collab.protocol import ywire
from tests.support import wait_changed


@dataclass
class HDoc:
    name: str
    doc: Doc = field(default_factory=Doc)
    scope: str | None = None
    denied: str | None = None
    saved: int = 0
    unsaved: int = 0

    @property
    def content(self) -> XmlFragment:
        fragment: XmlFragment = self.doc.get("content", type=XmlFragment)
        return fragment

    def paragraphs(self) -> list[str]:
        return [str(child) for child in self.content.children]


@dataclass
class HClient:
    ws: ClientConnection
    docs: dict[str, HDoc] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    async def send(self, name: str, message: hp.HMessage) -> None:
        await self.ws.send(hp.encode(hp.HFrame(name, None, message)))

    async def open(self, name: str, token: str) -> HDoc:
        doc = self.docs[name] = HDoc(name)
        await self.send(name, hp.AuthToken(token, "4.8.0"))
        await self.send(name, ywire.SyncStep1(doc.doc.get_state()))
        await self.wait_until(lambda: doc.scope is not None or doc.denied is not None)
        return doc

    async def add_paragraph(self, name: str, text: str) -> None:
        doc = self.docs[name]
        before = doc.doc.get_state()
        doc.content.children.append(XmlElement("paragraph", None, [XmlText(text)]))
        await self.send(name, ywire.Update(doc.doc.get_update(before)))

    def _handle(self, frame: hp.HFrame) -> hp.HMessage | None:
        doc = self.docs.get(frame.document)
        message = frame.message
        if doc is None:
            return None
        if isinstance(message, hp.Authenticated):
            doc.scope = message.scope
        elif isinstance(message, hp.PermissionDenied):
            doc.denied = message.reason
        elif isinstance(message, hp.SyncStatus):
            if message.saved:
                doc.saved += 1
            else:
                doc.unsaved += 1
        elif isinstance(message, ywire.SyncStep1):
            return hp.SyncReply(ywire.SyncStep2(doc.doc.get_update(message.state_vector)))
        elif isinstance(message, ywire.SyncStep2 | ywire.Update):
            doc.doc.apply_update(message.update)
        return None

    async def run(self) -> None:
        try:
            async for data in self.ws:
                assert isinstance(data, bytes)
                for frame in hp.decode(data, max_size=1 << 30):
                    reply = self._handle(frame)
                    if reply is not None:
                        await self.send(frame.document, reply)
                self.changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code or 1006
            self.changed.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        await wait_changed(self.changed, predicate, timeout)


@contextlib.asynccontextmanager
async def hclient(base_ws: str) -> AsyncIterator[HClient]:
    async with connect(f"{base_ws}/collab", max_size=None) as ws:
        client = HClient(ws)
        task = asyncio.create_task(client.run())
        try:
            yield client
        finally:
            await ws.close()
            await task
