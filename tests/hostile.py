"""Hostile Yjs input for tests and the room fuzzer (bench/fuzz_room.py).

- `tiptap_edits()`: a deterministic editing session in the shape Tiptap writes (paragraphs,
  a heading, marks, a list, deletions, the `ai` map), one update per transaction.
- `mutate()`: the byte-level mutations the fuzzer applies to those updates.
- `crafted()`: hand-made updates aimed at the decoder: counts larger than the bytes that
  follow, nesting that overflows a recursive decoder, kinds no Yjs client sends.
- `corpus()`: updates the fuzzer found that make yrs fail half way (panics and integration
  errors), with the edits applied before them; kept in `tests/corpus/updates.json`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycrdt import Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.protocol.lib0 import Encoder

CORPUS = Path(__file__).parent / "corpus" / "updates.json"


def tiptap_edits(seed: int = 0) -> list[bytes]:
    """Two writers editing one phase document; every transaction's update, in order."""
    rng = random.Random(seed)
    # Yjs picks random 32-bit client ids: five-byte varints, as on the wire.
    a, b = Doc(client_id=3_840_193_177 + seed), Doc(client_id=2_719_408_623 + seed)
    updates: list[bytes] = []
    for doc in (a, b):
        doc["content"] = XmlFragment()
        doc["ai"] = Map()
    a.observe(lambda event: updates.append(event.update))
    content: XmlFragment = a["content"]
    words = ["alpha", "beta", "gamma", "delta", "omega"]
    with a.transaction():
        text = content.children.append(XmlElement("paragraph")).children.append(XmlText())
        text.insert(0, "Hello world")
    with a.transaction():
        text.insert(5, ",", {"bold": True})
    with a.transaction():
        heading = content.children.append(XmlElement("heading", {"level": 2}))
        heading.children.append(XmlText("Title"))
    with a.transaction():
        del text[0:2]
    with a.transaction():
        item = content.children.append(XmlElement("bulletList"))
        item = item.children.append(XmlElement("listItem"))
        item.children.append(XmlElement("paragraph")).children.append(XmlText("item"))
    with a.transaction():
        a["ai"]["status"] = "streaming"
        a["ai"]["text"] = Text("token")
    with a.transaction():
        text.format(1, 4, {"italic": True})
    for _ in range(3):
        with a.transaction():
            text.insert(rng.randrange(len(str(text)) + 1), rng.choice(words))
    with a.transaction():
        del content.children[1]
    # The second writer's edit, concurrent with the first's: other client, other origins.
    b.apply_update(updates[0])
    b_updates: list[bytes] = []
    b.observe(lambda event: b_updates.append(event.update))
    with b.transaction():
        b["content"].children.append(XmlElement("paragraph")).children.append(XmlText("B"))
    return updates + b_updates


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three byte-level changes: overwrite, flip, insert, delete, duplicate."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op, at = rng.random(), rng.randrange(len(out) + 1)
        if not out or op < 0.15:
            out[at:at] = bytes([rng.randrange(256)])
        elif at == len(out):
            del out[-1]
        elif op < 0.45:
            out[at] = rng.randrange(256)
        elif op < 0.6:
            out[at] = rng.choice([0, 1, 2, 8, 0x7F, 0x80, 0xFF])
        elif op < 0.75:
            out[at] ^= 1 << rng.randrange(8)
        elif op < 0.85:
            del out[at : at + rng.randint(1, 3)]
        else:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randint(1, 6)]
    return bytes(out)


def _update(*write: Any) -> bytes:
    """One struct section (already encoded in `write`) and an empty delete set."""
    encoder = Encoder()
    for value in write:
        if isinstance(value, bytes):
            encoder._buf += value  # raw bytes (struct info, any tags)
        elif isinstance(value, str):
            encoder.write_var_string(value)
        else:
            encoder.write_var_uint(value)
    return encoder.to_bytes()


def crafted() -> dict[str, bytes]:
    """Updates that no Yjs client sends, each aimed at one weakness of a trusting decoder."""
    deep = 100_000
    return {
        # "268M clients follow": yrs reserves memory for all of them before reading one.
        "huge client count": bytes.fromhex("8080808001"),
        "huge struct count": _update(1, 2**31, 7, 0),
        "huge delete-set count": _update(0, 2**30),
        "huge deleted ranges": _update(0, 1, 7, 2**31),
        # An Any array inside an array, 100,000 deep: a recursive decoder's stack overflows.
        "deep any": _update(1, 1, 7, 0, b"\x08", 1, "ai", 1, b"\x75\x01" * deep, b"\x7e", 0),
        "deep any map": _update(1, 1, 7, 0, b"\x08", 1, "ai", 1, b"\x76\x01\x01k" * deep, 0),
        "unknown any tag": _update(1, 1, 7, 0, b"\x08", 1, "ai", 1, b"\x10", 0),
        "move content": _update(1, 1, 7, 0, b"\x0b", 1, "ai", 0, 0),
        "weak link type": _update(1, 1, 7, 0, b"\x07", 1, "ai", 7, 0),
        "clock overflow": _update(1, 1, 7, 2**32 - 2, b"\x00", 100, 0),
        "trailing bytes": _update(0, 0, 0),
        "truncated": bytes.fromhex("01010700"),
        "json nested deep": _update(1, 1, 7, 0, b"\x02", 1, "ai", 1, "[" * deep + "]" * deep, 0),
    }


@dataclass(frozen=True)
class Case:
    """Updates yrs integrated (`before`), then one it fails on half way (`update`)."""

    before: list[bytes]
    update: bytes
    found: str


def corpus() -> list[Case]:
    data = json.loads(CORPUS.read_text())
    base = [bytes.fromhex(update) for update in data["base"]]
    return [
        Case(base[: case["prefix"]], bytes.fromhex(case["update"]), case["found"])
        for case in data["cases"]
    ]
