"""Chunking a phase's blocks: bounds, overlap, locality of edits, unicode."""

from __future__ import annotations

import hashlib
import itertools
import random
import re

import pytest

from ai.rag.chunking import Chunk, chunk_blocks

WORDS = [
    "plan",
    "risk",
    "budget",
    "team",
    "scope",
    "goal",
    "metric",
    "owner",
    "review",
    "launch",
    "market",
    "user",
]


def corpus(seed: int = 7, n: int = 40) -> list[str]:
    """Blocks whose words carry the block number, so a chunk tells which blocks it holds."""
    rnd = random.Random(seed)
    blocks = []
    for i in range(n):
        count = rnd.choice([4, 12, 30, 70, 150, 420])
        words = [
            f"{rnd.choice(WORDS)}{i}" + ("." if rnd.random() < 0.15 else "") for _ in range(count)
        ]
        blocks.append(" ".join(words))
    return blocks


def block_ids(chunk: Chunk) -> set[int]:
    return {int(n) for n in set(re.findall(r"[a-z](\d+)", chunk.text))}


def test_empty_and_blank_blocks() -> None:
    assert chunk_blocks([]) == []
    assert chunk_blocks(["", "  \n"]) == []


def test_small_blocks_pack_into_one_chunk() -> None:
    chunks = chunk_blocks(["# Goals", "Ship the beta.", "- one", "- two"])
    assert [c.text for c in chunks] == ["# Goals\n\nShip the beta.\n\n- one\n\n- two"]
    assert chunks[0].index == 0
    assert chunks[0].content_hash == hashlib.sha256(chunks[0].text.encode()).hexdigest()


@pytest.mark.parametrize(("max_chars", "overlap"), [(1200, 200), (300, 50), (120, 0)])
def test_bounds_and_coverage(max_chars: int, overlap: int) -> None:
    blocks = corpus()
    chunks = chunk_blocks(blocks, max_chars=max_chars, overlap_chars=overlap)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(0 < len(c.text) <= max_chars for c in chunks)
    text = " ".join(c.text for c in chunks).split()
    assert set(text) >= {w for b in blocks for w in b.split()}  # every word lands somewhere


def test_whole_blocks_are_not_split() -> None:
    blocks = corpus()
    chunks = chunk_blocks(blocks)
    whole = [b for b in blocks if len(b) <= 900]
    assert all(any(b in c.text for c in chunks) for b in whole)


def test_long_block_splits_at_sentences() -> None:
    sentence = "The launch depends on the review of every risk by its owner. "
    chunks = chunk_blocks([sentence * 60], max_chars=400, overlap_chars=0)
    assert len(chunks) > 5
    assert all(c.text.endswith(".") and len(c.text) <= 400 for c in chunks)


def test_a_long_word_is_cut_anywhere() -> None:
    chunks = chunk_blocks(["x" * 1000], max_chars=300, overlap_chars=0)
    assert "".join(c.text for c in chunks) == "x" * 1000


def test_overlap_carries_the_previous_tail() -> None:
    chunks = chunk_blocks(corpus(), max_chars=600, overlap_chars=120)
    assert len(chunks) > 10
    for previous, chunk in itertools.pairwise(chunks):
        tails = (previous.text[-k:] for k in range(1, 121))
        assert any(chunk.text.startswith(tail + "\n\n") for tail in tails)


def test_no_overlap() -> None:
    chunks = chunk_blocks(corpus(), max_chars=600, overlap_chars=0)
    assert not any(a.text.split()[-1] == b.text.split()[0] for a, b in itertools.pairwise(chunks))


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        chunk_blocks(["x"], max_chars=100, overlap_chars=90)


def test_deterministic() -> None:
    assert chunk_blocks(corpus()) == chunk_blocks(corpus())


# A block's first 48 chars decide whether it starts a chunk; edit past them.
@pytest.mark.parametrize("j", [j for j, b in enumerate(corpus()) if len(b) >= 80])
def test_typo_fix_changes_only_the_chunks_holding_the_block(j: int) -> None:
    blocks = corpus()
    before = chunk_blocks(blocks)
    position = next(i for i in range(60, len(blocks[j])) if blocks[j][i].isalpha())
    letter = "q" if blocks[j][position] != "q" else "z"
    edited = list(blocks)
    edited[j] = blocks[j][:position] + letter + blocks[j][position + 1 :]
    after = chunk_blocks(edited)
    old = {c.content_hash for c in before}
    changed = [c for c in after if c.content_hash not in old]
    assert changed
    assert all(j in block_ids(c) for c in changed)
    assert len(after) == len(before)


@pytest.mark.parametrize("seed", range(2))
def test_any_block_edit_stays_in_its_neighbourhood(seed: int) -> None:
    """Chunks made only of blocks that never shared a chunk with the edited one survive."""
    blocks = corpus(seed)
    before = chunk_blocks(blocks)
    edits = [lambda b: b + " zebra crossing.", lambda b: b[: len(b) // 2], lambda b: f"{b} {b}"]
    for j in range(len(blocks)):
        for edit in edits:
            edited = list(blocks)
            edited[j] = edit(blocks[j])
            after = chunk_blocks(edited)
            hood = set().union(*(block_ids(c) for c in before + after if j in block_ids(c)))
            kept = {c.content_hash for c in after}
            lost = [c for c in before if not block_ids(c) & hood and c.content_hash not in kept]
            assert not lost, (j, [sorted(block_ids(c)) for c in lost])


def test_unicode() -> None:
    blocks = ["Über die Qualität — naïve café ☕.", "日本語の文章です。" * 40, "Emoji 🎉 " * 50]
    chunks = chunk_blocks(blocks, max_chars=200, overlap_chars=30)
    assert all(len(c.text) <= 200 for c in chunks)
    assert blocks[0] in chunks[0].text
    joined = "".join(c.text for c in chunks)
    assert "日本語の文章です。" in joined and "🎉" in joined
    for c in chunks:
        assert c.content_hash == hashlib.sha256(c.text.encode("utf-8")).hexdigest()
