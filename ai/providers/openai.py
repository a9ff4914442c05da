"""Chat and embeddings over any OpenAI-compatible HTTP API (OpenAI, gateways, vLLM, Ollama,
llama.cpp), with the official `openai` package.

The SDK's own retries are off: we retry 429, 5xx and connection failures with exponential
backoff ourselves, and only before the first token of a stream, never after. Timeouts are
not retried. Errors leave this module as `AiError`s.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, TypeVar, cast

import openai

from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable, StreamBroken
from ai.providers import ChatMessage, Usage

if TYPE_CHECKING:
    from openai import AsyncStream
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

T = TypeVar("T")
_MAX_DELAY_S = 20.0


def _client(api_key: str | None, base_url: str | None, model: str) -> openai.AsyncOpenAI:
    if not model:
        raise ProviderUnavailable("no AI model is configured")
    if not api_key and not base_url:
        raise ProviderUnavailable("neither an API key nor a base URL is configured")
    # Local servers need no key, but the SDK insists on one.
    return openai.AsyncOpenAI(api_key=api_key or "unused", base_url=base_url, max_retries=0)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def _delay(attempt: int, backoff_s: float, exc: BaseException) -> float:
    delay = backoff_s * 2.0**attempt + random.uniform(0, backoff_s / 2)
    if isinstance(exc, openai.APIStatusError):
        try:
            retry_after: str = str(exc.response.headers.get("retry-after", "0"))
            delay = max(delay, float(retry_after))
        except ValueError:
            pass
    return min(delay, _MAX_DELAY_S)


def _mapped(exc: BaseException) -> Exception:
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return ProviderTimeout()
    if isinstance(exc, openai.APIStatusError):
        return ProviderError(exc.message, status=exc.status_code)
    if isinstance(exc, openai.APIError):
        return ProviderError(exc.message)
    return ProviderError(str(exc) or type(exc).__name__)


async def _with_retries(
    attempt_fn: Callable[[], Awaitable[T]], *, max_retries: int, backoff_s: float
) -> T:
    """Run `attempt_fn` until it succeeds or fails for good; raise an `AiError`."""
    attempt = 0
    while True:
        try:
            return await attempt_fn()
        except (openai.APIError, TimeoutError) as exc:
            if attempt >= max_retries or not _retryable(exc):
                raise _mapped(exc) from exc
            await asyncio.sleep(_delay(attempt, backoff_s, exc))
            attempt += 1


class _Chunks:
    """Reads an SDK chunk stream down to text deltas, noting finish reason and usage."""

    def __init__(self, upstream: AsyncStream[ChatCompletionChunk]) -> None:
        self.upstream = upstream
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    async def next_delta(self) -> str | None:
        """The next non-empty delta, or None at the end of the stream."""
        async for chunk in self.upstream:
            if chunk.usage is not None:
                self.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices:
                self.finish_reason = choice.finish_reason or self.finish_reason
            text = "".join(c.delta.content or "" for c in chunk.choices if c.index == 0)
            if text:
                return text
        return None


class ChatStream:
    """The text deltas of one completion; `usage` is set at the end if the server sent it."""

    def __init__(self, chunks: _Chunks, first: str | None, idle_timeout_s: float) -> None:
        self._chunks = chunks
        self._pending = first
        self._ended = first is None
        self._idle_timeout_s = idle_timeout_s
        self.tokens_received = 0

    @property
    def usage(self) -> Usage | None:
        return self._chunks.usage

    @property
    def finish_reason(self) -> str | None:
        return self._chunks.finish_reason

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> str:
        delta, self._pending = self._pending, None
        if delta is None and not self._ended:
            delta = await self._read()
        if delta is None:
            self._ended = True
            if self._chunks.finish_reason is None:
                raise StreamBroken(
                    "the stream ended without a finish reason",
                    tokens_received=self.tokens_received,
                )
            raise StopAsyncIteration
        self.tokens_received += 1
        return delta

    async def _read(self) -> str | None:
        try:
            async with asyncio.timeout(self._idle_timeout_s):
                return await self._chunks.next_delta()
        except (TimeoutError, openai.APITimeoutError) as exc:
            self._ended = True
            raise ProviderTimeout("no token within the timeout") from exc
        except openai.APIError as exc:
            self._ended = True
            raise StreamBroken(exc.message, tokens_received=self.tokens_received) from exc


class OpenAIChat:
    """A streaming chat model behind an OpenAI-compatible API."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        model: str,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        *,
        backoff_s: float = 0.5,
        include_usage: bool = True,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.include_usage = include_usage
        self._client = _client(api_key, base_url, model)

    async def aclose(self) -> None:
        await self._client.close()

    def stream(
        self, messages: list[ChatMessage], *, temperature: float, max_tokens: int
    ) -> AbstractAsyncContextManager[ChatStream]:
        return self._open(messages, temperature, max_tokens)

    @asynccontextmanager
    async def _open(
        self, messages: list[ChatMessage], temperature: float, max_tokens: int
    ) -> AsyncIterator[ChatStream]:
        async def attempt() -> tuple[_Chunks, str | None]:
            return await self._start(messages, temperature, max_tokens)

        chunks, first = await _with_retries(
            attempt, max_retries=self.max_retries, backoff_s=self.backoff_s
        )
        try:
            yield ChatStream(chunks, first, self.timeout_s)
        finally:
            await chunks.upstream.close()

    async def _start(
        self, messages: list[ChatMessage], temperature: float, max_tokens: int
    ) -> tuple[_Chunks, str | None]:
        """Open the stream and read up to its first delta; close it on any failure."""
        wire = cast(
            "list[ChatCompletionMessageParam]",
            [{"role": m.role, "content": m.content} for m in messages],
        )
        chunks: _Chunks | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                upstream = await self._client.chat.completions.create(
                    model=self.model,
                    messages=wire,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    stream=True,
                    stream_options={"include_usage": True} if self.include_usage else openai.omit,
                    timeout=self.timeout_s,
                )
                chunks = _Chunks(upstream)
                return chunks, await chunks.next_delta()
        except BaseException:
            if chunks is not None:
                await chunks.upstream.close()
            raise


class OpenAIEmbeddings:
    """Embeddings behind an OpenAI-compatible API, sent in batches, returned in input order.

    `request_dimensions` sends `dimensions` (OpenAI's text-embedding-3 models shorten their
    vectors); turn it off for servers that reject the field. Lengths are checked either way.
    """

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        model: str,
        dimensions: int,
        batch_size: int = 64,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        request_dimensions: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.model = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.request_dimensions = request_dimensions
        self._client = _client(api_key, base_url, model)

    async def aclose(self) -> None:
        await self._client.close()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t or " " for t in texts[start : start + self.batch_size]]

            async def attempt(batch: list[str] = batch) -> list[list[float]]:
                return await self._embed_batch(batch)

            vectors.extend(
                await _with_retries(attempt, max_retries=self.max_retries, backoff_s=self.backoff_s)
            )
        return vectors

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        async with asyncio.timeout(self.timeout_s):
            response = await self._client.embeddings.create(
                input=batch,
                model=self.model,
                dimensions=self.dimensions if self.request_dimensions else openai.omit,
                encoding_format="float",
                timeout=self.timeout_s,
            )
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise ProviderError(f"asked for {len(batch)} embeddings, got {len(data)}")
        vectors = [list(item.embedding) for item in data]
        if any(len(v) != self.dimensions for v in vectors):
            raise ProviderError(f"the model did not return {self.dimensions}-d vectors")
        return vectors
