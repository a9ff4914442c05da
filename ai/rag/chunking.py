"""Chunk a phase's content, given as its blocks in order, for embedding.

Whole blocks are packed into chunks; a block too long for one chunk is split at sentence
boundaries, then word boundaries, then anywhere. Each chunk after the first starts with
about `overlap_chars` of the previous chunk's tail, so `len(chunk.text) <= max_chars`.

Boundaries are content-defined so that an edit stays local: a piece (a block, or part of a
long one) starts a new chunk when a hash of its own text says so, with a probability that
grows with its length (about one start per half chunk of text). What lies before or after
an edited block therefore keeps its boundaries, and only the chunks holding the block (or,
through the overlap, its tail) change, unless a run between two starts overflows a chunk.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

# A sentence ends at . ! ? or an ellipsis before a space, or at a CJK stop (space optional).
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|(?<=[\u3002\uff01\uff1f])\s*")
_SPACE = re.compile(r"\s+")
_JOIN = "\n\n"
_HASHED_PREFIX = 48


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    content_hash: str  # sha256 of text, hex


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_blocks(
    blocks: list[str], *, max_chars: int = 1200, overlap_chars: int = 200
) -> list[Chunk]:
    if overlap_chars < 0 or max_chars - overlap_chars - len(_JOIN) < 20:
        raise ValueError("max_chars must exceed overlap_chars by at least 22")
    budget = max_chars - overlap_chars - len(_JOIN) if overlap_chars else max_chars
    pieces = [p for b in blocks if b.strip() for p in _split(b.strip(), budget)]
    bodies = list(_pack(pieces, budget))
    texts = [bodies[0]] if bodies else []
    for previous, body in itertools.pairwise(bodies):
        tail = _tail(previous, overlap_chars)
        texts.append(f"{tail}{_JOIN}{body}" if tail else body)
    return [Chunk(i, t, content_hash(t)) for i, t in enumerate(texts)]


def _starts_chunk(piece: str, budget: int) -> bool:
    """Content-defined boundary, true with probability ~ len(piece) / (budget / 2).

    Only the piece's opening is hashed, so most edits do not move a boundary.
    """
    digest = hashlib.blake2b(piece[:_HASHED_PREFIX].encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % max(1, budget // 2) < len(piece)


def _pack(pieces: list[str], budget: int) -> Iterator[str]:
    body: list[str] = []
    size = 0
    for piece in pieces:
        grown = size + len(_JOIN) + len(piece)
        if body and (grown > budget or _starts_chunk(piece, budget)):
            yield _JOIN.join(body)
            body, size = [], 0
            grown = len(piece)
        body.append(piece)
        size = grown if size else len(piece)
    if body:
        yield _JOIN.join(body)


def _split(block: str, budget: int) -> list[str]:
    """A block as pieces of at most `budget` chars, cut at sentences, then words."""
    if len(block) <= budget:
        return [block]
    units: list[str] = []
    for sentence in _sentences(block):
        units.extend([sentence] if len(sentence) <= budget else _split_words(sentence, budget))
    return [piece.strip() for piece in _greedy(units, budget, "")]


def _sentences(text: str) -> Iterator[str]:
    """Sentences with their trailing space, so that joining them gives `text` back."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > start:
            yield text[start : match.end()]
            start = match.end()
    if start < len(text):
        yield text[start:]


def _split_words(text: str, budget: int) -> list[str]:
    words: list[str] = []
    for word in _SPACE.split(text):
        words.extend(word[i : i + budget] for i in range(0, len(word), budget))
    return [f"{w} " for w in _greedy([w for w in words if w], budget - 1, " ")]


def _greedy(units: list[str], budget: int, sep: str) -> list[str]:
    out: list[str] = []
    for unit in units:
        if out and len(out[-1]) + len(sep) + len(unit) <= budget:
            out[-1] = f"{out[-1]}{sep}{unit}"
        else:
            out.append(unit)
    return out


def _tail(text: str, overlap_chars: int) -> str:
    """About the last `overlap_chars` of `text`, starting at a word boundary."""
    if overlap_chars == 0:
        return ""
    if len(text) <= overlap_chars:
        return text
    tail = text[-overlap_chars:]
    cut = _SPACE.search(tail)
    return tail[cut.end() :] if cut and cut.end() < len(tail) else tail
