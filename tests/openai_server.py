"""A real HTTP server on loopback that speaks the OpenAI API, scriptable per test.

    async with OpenAIServer() as srv:
        srv.script(tokens=["Hel", "lo"], delay_s=0.01, fail_status=429, fail_times=1)
        chat = OpenAIChat("k", srv.base_url, "m")
        ...
        assert srv.requests[0].body["stream"] is True

POST /v1/chat/completions streams `chat.completion.chunk` SSE events (a role chunk, one per
token, a finish chunk, a usage chunk when `stream_options.include_usage`, then `[DONE]`), or
answers one `chat.completion` when `stream` is false. POST /v1/embeddings answers
HashingEmbedder vectors of the requested `dimensions` (else `embedding_dimensions`).
Every request is recorded in `requests`; a client that hangs up mid-stream lands in
`disconnects` with the monotonic time it was noticed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import struct
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn

from ai.providers.hashing import HashingEmbedder

Scope = dict[str, Any]


@dataclass
class Script:
    tokens: list[str] = field(default_factory=lambda: ["Hello", ",", " world", "!"])
    delay_s: float = 0.0
    first_token_delay_s: float = 0.0
    fail_status: int | None = None  # answer this status to the first `fail_times` requests
    fail_times: int = 1
    break_after: int | None = None  # drop the connection after this many tokens, no [DONE]
    finish_reason: str = "stop"


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Disconnect:
    path: str
    at: float
    tokens_sent: int


class OpenAIServer:
    def __init__(self, *, embedding_dimensions: int = 384) -> None:
        self.embedding_dimensions = embedding_dimensions
        self.requests: list[Recorded] = []
        self.disconnects: list[Disconnect] = []
        self._script = Script()
        self._failures_left = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings for a server that uses this model for chat and embeddings."""
        return {
            "openai_base_url": self.base_url,
            "openai_api_key": "test-key",
            "ai_model": "test-model",
            "embedding_provider": "openai",
            "embedding_model": "test-embed",
            "embedding_dimensions": self.embedding_dimensions,
            **overrides,
        }

    def script(self, **changes: Any) -> Script:
        """Replace the script (unset fields take their defaults); returns it."""
        self._script = Script(**changes)
        self._failures_left = self._script.fail_times if self._script.fail_status else 0
        return self._script

    async def wait_for_disconnect(self, timeout_s: float = 1.0) -> Disconnect:
        async with asyncio.timeout(timeout_s):
            while not self.disconnects:
                await asyncio.sleep(0.005)
        return self.disconnects[0]

    async def __aenter__(self) -> OpenAIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_config=None, lifespan="off", timeout_graceful_shutdown=1)
        self._server = server = uvicorn.Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(10):
            while not server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("fake OpenAI server exited during start-up")
                await asyncio.sleep(0.005)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    # ASGI

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw or b"{}")
        record = Recorded(scope["path"], body, time.monotonic())
        self.requests.append(record)
        if self._failures_left > 0 and self._script.fail_status:
            self._failures_left -= 1
            record.status = self._script.fail_status
            await _json(send, record.status, _error(record.status))
        elif scope["path"] == "/v1/chat/completions" and body.get("stream"):
            await self._stream(receive, send, body)
        elif scope["path"] == "/v1/chat/completions":
            await _json(send, 200, _completion(body, self._script))
        elif scope["path"] == "/v1/embeddings":
            await _json(send, 200, self._embeddings(body))
        else:
            record.status = 404
            await _json(send, 404, _error(404))

    async def _stream(self, receive: Any, send: Any, body: dict[str, Any]) -> None:
        state = {"sent": 0}
        producer = asyncio.ensure_future(self._produce(send, body, state))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if watcher.done() and not producer.done():
                self.disconnects.append(
                    Disconnect("/v1/chat/completions", time.monotonic(), state["sent"])
                )
            producer.result() if producer.done() else None
        finally:
            for task in (producer, watcher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _produce(self, send: Any, body: dict[str, Any], state: dict[str, int]) -> None:
        script = self._script
        model = body.get("model", "fake")
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await _event(send, _chunk(model, {"role": "assistant", "content": ""}))
        for i, token in enumerate(script.tokens):
            if script.break_after is not None and i >= script.break_after:
                return  # uvicorn closes the connection: an unfinished chunked body
            await asyncio.sleep(script.first_token_delay_s if i == 0 else script.delay_s)
            await _event(send, _chunk(model, {"content": token}))
            state["sent"] += 1
        await _event(send, _chunk(model, {}, finish=script.finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = _usage(body, script)
            await _event(send, {**_chunk(model, {}), "choices": [], "usage": usage})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        embedder = HashingEmbedder(body.get("dimensions") or self.embedding_dimensions)
        data = []
        for i, text in enumerate(texts):
            vector: Any = embedder.vector(str(text))
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = sum(len(str(t).split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": body.get("model"), "usage": usage}


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _json(send: Any, status: int, payload: dict[str, Any]) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def _event(send: Any, payload: dict[str, Any]) -> None:
    data = f"data: {json.dumps(payload)}\n\n".encode()
    await send({"type": "http.response.body", "body": data, "more_body": True})


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(body: dict[str, Any], script: Script) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": len(script.tokens),
        "total_tokens": prompt + len(script.tokens),
    }


def _completion(body: dict[str, Any], script: Script) -> dict[str, Any]:
    message = {"role": "assistant", "content": "".join(script.tokens)}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": script.finish_reason}],
        "usage": _usage(body, script),
    }


def _error(status: int) -> dict[str, Any]:
    kind = {429: "rate_limit_exceeded", 404: "not_found"}.get(status, "server_error")
    return {"error": {"message": f"scripted {status}", "type": kind, "code": kind}}
