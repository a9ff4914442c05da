"""A built-in lexical embedder: offline, deterministic, no model download.

Text is lowercased and split into unicode words; a light stemmer folds plurals; stop words
are dropped. Unigrams and bigrams are feature-hashed with a signed blake2b hash (stable
across processes, unlike `hash()`), weighted by sublinear term frequency and L2-normalised,
so texts sharing words have a high cosine. A text with no words maps to the zero vector.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+")
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
    ]
)
_BIGRAM_WEIGHT = 0.5


def stem(word: str) -> str:
    """Fold simple English plurals: `policies` → `policy`, `risks` → `risk`."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    words = (stem(w) for w in _WORD.findall(text.lower()))
    return [w for w in words if w not in _STOP_WORDS]


def _slot(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8, person=b"ua-hashing-v1").digest()
    value = int.from_bytes(digest, "little")
    sign = 1.0 if value & 1 else -1.0
    return (value >> 1) % dimensions, sign


class HashingEmbedder:
    model = "hashing-v1"

    def __init__(self, dimensions: int = 384) -> None:
        if dimensions < 8:
            raise ValueError("dimensions must be at least 8")
        self.dimensions = dimensions

    def vector(self, text: str) -> list[float]:
        tokens = tokenize(text)
        features: Counter[str] = Counter(tokens)
        weights = {f: 1.0 for f in features}
        for a, b in itertools.pairwise(tokens):
            bigram = f"{a} {b}"
            features[bigram] += 1
            weights[bigram] = _BIGRAM_WEIGHT
        out = [0.0] * self.dimensions
        for feature, count in features.items():
            index, sign = _slot(feature, self.dimensions)
            out[index] += sign * weights[feature] * (1.0 + math.log(count))
        norm = math.sqrt(sum(x * x for x in out))
        return [x / norm for x in out] if norm > 0 else out

    async def embed(self, texts: list[str]) -> list[list[float]]:
        # A long phase is thousands of chunks: a second of CPU, kept off the event loop.
        return await asyncio.to_thread(lambda: [self.vector(t) for t in texts])
