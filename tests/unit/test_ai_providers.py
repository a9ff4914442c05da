"""Providers against a real loopback OpenAI-compatible server, and the hashing embedder."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import pytest

from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable, StreamBroken
from ai.providers import ChatMessage, ChatProvider, EmbeddingProvider
from ai.providers.hashing import HashingEmbedder, tokenize
from ai.providers.openai import OpenAIChat, OpenAIEmbeddings
from tests.openai_server import OpenAIServer

MESSAGES = [ChatMessage("system", "You draft documents."), ChatMessage("user", "Write.")]


@pytest.fixture
async def srv() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


@pytest.fixture
async def chat(srv: OpenAIServer) -> AsyncIterator[OpenAIChat]:
    provider = OpenAIChat("test-key", srv.base_url, "fake-model", 2.0, 2, backoff_s=0.01)
    yield provider
    await provider.aclose()


async def collect(provider: ChatProvider, received: list[str] | None = None) -> list[str]:
    out = received if received is not None else []
    async with provider.stream(MESSAGES, temperature=0.2, max_tokens=50) as deltas:
        async for delta in deltas:
            out.append(delta)
    return out


async def test_streams_tokens_in_order_with_usage(srv: OpenAIServer, chat: OpenAIChat) -> None:
    srv.script(tokens=["The", " plan", " is", " ready."], delay_s=0.005)
    async with chat.stream(MESSAGES, temperature=0.3, max_tokens=64) as deltas:
        got = [d async for d in deltas]
    assert got == ["The", " plan", " is", " ready."]
    usage = getattr(deltas, "usage", None)
    assert usage is not None and usage.completion_tokens == 4
    body = srv.requests[0].body
    assert body["stream"] is True and body["model"] == "fake-model"
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][1] == {"role": "user", "content": "Write."}
    assert body["temperature"] == 0.3 and body["max_tokens"] == 64


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_retries_before_first_token(srv: OpenAIServer, chat: OpenAIChat, status: int) -> None:
    srv.script(tokens=["ok"], fail_status=status, fail_times=2)
    assert await collect(chat) == ["ok"]
    assert [r.status for r in srv.requests] == [status, status, 200]


async def test_gives_up_after_max_retries(srv: OpenAIServer, chat: OpenAIChat) -> None:
    srv.script(fail_status=429, fail_times=10)
    with pytest.raises(ProviderError) as info:
        await collect(chat)
    assert info.value.status == 429
    assert len(srv.requests) == 3  # one try and max_retries=2 retries


async def test_client_errors_are_not_retried(srv: OpenAIServer, chat: OpenAIChat) -> None:
    srv.script(fail_status=400, fail_times=5)
    with pytest.raises(ProviderError) as info:
        await collect(chat)
    assert info.value.status == 400 and len(srv.requests) == 1


async def test_no_retry_after_first_token(srv: OpenAIServer, chat: OpenAIChat) -> None:
    srv.script(tokens=["a", "b", "c", "d"], break_after=2)
    received: list[str] = []
    with pytest.raises(StreamBroken) as info:
        await collect(chat, received)
    assert received == ["a", "b"]  # the caller keeps the partial text
    assert info.value.tokens_received == 2
    assert len(srv.requests) == 1


async def test_timeout_before_first_token(srv: OpenAIServer) -> None:
    srv.script(tokens=["late"], first_token_delay_s=3.0)
    provider = OpenAIChat("k", srv.base_url, "m", timeout_s=0.3, max_retries=2)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout):
            await collect(provider)
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2.0
    assert len(srv.requests) == 1  # timeouts are not retried


async def test_leaving_early_disconnects_upstream(srv: OpenAIServer, chat: OpenAIChat) -> None:
    srv.script(tokens=[f"t{i} " for i in range(200)], delay_s=0.02)
    async with chat.stream(MESSAGES, temperature=0.2, max_tokens=500) as deltas:
        async for delta in deltas:
            if delta == "t2 ":
                break
        left_at = time.monotonic()
    gone = await srv.wait_for_disconnect(timeout_s=1.0)
    assert gone.at - left_at < 1.0 and gone.tokens_sent < 200


async def test_cancelling_the_consumer_disconnects_upstream(
    srv: OpenAIServer, chat: OpenAIChat
) -> None:
    srv.script(tokens=[f"t{i} " for i in range(200)], delay_s=0.02)
    first = asyncio.Event()

    async def consume() -> None:
        async with chat.stream(MESSAGES, temperature=0.2, max_tokens=500) as deltas:
            async for _ in deltas:
                first.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(2):
        await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await srv.wait_for_disconnect(timeout_s=1.0)


async def test_unconfigured_provider_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="AI_MODEL"):
        OpenAIChat(None, None, "")
    with pytest.raises(ProviderUnavailable, match="OPENAI_API_KEY"):
        OpenAIEmbeddings(None, None, "text-embedding-3-small", 384)


async def test_embeddings_batch_and_keep_order(srv: OpenAIServer) -> None:
    provider = OpenAIEmbeddings("k", srv.base_url, "embed-model", 64, batch_size=3)
    texts = [f"paragraph number {i} about topic {i % 3}" for i in range(8)]
    try:
        vectors = await provider.embed(texts)
    finally:
        await provider.aclose()
    assert [len(r.body["input"]) for r in srv.requests] == [3, 3, 2]
    assert srv.requests[0].body["dimensions"] == 64
    expected = HashingEmbedder(64)
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(expected.vector(text), abs=1e-6)


async def test_embeddings_retry_on_server_error(srv: OpenAIServer) -> None:
    srv.script(fail_status=502, fail_times=1)
    provider = OpenAIEmbeddings("k", srv.base_url, "m", 32, backoff_s=0.01)
    try:
        assert len(await provider.embed(["one", "two"])) == 2
    finally:
        await provider.aclose()
    assert [r.status for r in srv.requests] == [502, 200]


def test_tokenize_folds_case_and_plurals() -> None:
    assert tokenize("The Risks of Policies, Café prices!") == ["risk", "policy", "café", "price"]


async def test_hashing_ranks_the_relevant_text_first() -> None:
    embedder = HashingEmbedder()
    docs = [
        "Quarterly budget: costs, revenue forecasts and spending limits for the team.",
        "Risk register: security risks, mitigations and the owners of each risk.",
        "Hiring plan: open roles, interview stages and onboarding of new engineers.",
        "Architecture: services, databases and the message queue between them.",
    ]
    query = "which security risk has no mitigation owner"
    q, *vs = await embedder.embed([query, *docs])
    scores = [sum(a * b for a, b in zip(q, v, strict=True)) for v in vs]
    assert max(range(len(docs)), key=scores.__getitem__) == 1


# One contract for every EmbeddingProvider.


@pytest.fixture(params=["hashing", "openai-loopback"])
async def embedder(request: pytest.FixtureRequest) -> AsyncIterator[EmbeddingProvider]:
    if request.param == "hashing":
        yield HashingEmbedder(dimensions=128)
        return
    async with OpenAIServer() as server:
        provider = OpenAIEmbeddings("k", server.base_url, "embed", 128, batch_size=2)
        yield provider
        await provider.aclose()


async def test_contract_shapes_norms_determinism(embedder: EmbeddingProvider) -> None:
    texts = ["Alpha beta gamma.", "Ünïcödé text — naïve café", "alpha beta gamma delta", "x"]
    first = await embedder.embed(texts)
    again = await embedder.embed(list(texts))
    assert isinstance(embedder.model, str) and embedder.model
    assert len(first) == len(texts)
    assert all(len(v) == embedder.dimensions for v in first)
    assert all(math.isclose(math.hypot(*v), 1.0, rel_tol=1e-5) for v in first)
    assert first == again
    assert await embedder.embed([]) == []


async def test_contract_similar_texts_are_closer(embedder: EmbeddingProvider) -> None:
    a, b, c = await embedder.embed(
        ["the deployment pipeline runs tests", "pipeline runs the deployment tests", "lunch menu"]
    )
    cos = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert cos(a, b) > 0.5 > cos(a, c)
