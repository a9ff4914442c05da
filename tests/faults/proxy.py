"""A loopback TCP proxy in the test process, to cut one node's connections to Redis."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close a connection the hard way: RST, not FIN, whatever is still buffered."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """A loopback TCP proxy in this process (e.g. between one node and Redis).

    `drop()` resets every connection at once, in both directions, wherever the byte stream
    is; with `refuse_for` it also resets new connections for that long (else they are
    accepted right away)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.dropped = 0
        self.chunks = 0  # forwarded reads, both directions: traffic went through
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._refuse_until = 0.0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            self.drop()
            await self._server.wait_closed()

    def drop(self, refuse_for: float = 0.0) -> int:
        """Reset every open connection; return how many there were."""
        self._refuse_until = time.monotonic() + refuse_for
        pairs, count = list(self._pairs), len(self._pairs)
        for pair in pairs:
            for writer in pair:
                _abort(writer)
        self.dropped += count
        return count

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _abort(writer)  # Redis is down: the node sees its connection reset
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(reader, up_writer, pair))
                group.create_task(self._pump(up_reader, writer, pair))
        finally:
            self._pairs.discard(pair)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await reader.read(65536):
                self.chunks += 1
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            for side in pair:  # one side gone: so is the other
                side.transport.abort()
