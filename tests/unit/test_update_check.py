"""The structural check that stands between a client's bytes and yrs."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab.errors import ProtocolError
from collab.protocol.update import check_state_vector, check_update
from tests.hostile import crafted, mutate, tiptap_edits


def test_every_update_of_an_editing_session_passes() -> None:
    for seed in range(5):
        for update in tiptap_edits(seed):
            check_update(update)


@pytest.mark.parametrize("name", sorted(crafted()))
def test_crafted_updates_are_refused_before_yrs(name: str) -> None:
    with pytest.raises(ProtocolError):
        check_update(crafted()[name])


def test_the_five_byte_update_is_refused_by_its_count() -> None:
    # yrs reserved 512 MiB for the 268M clients this declares, then failed.
    with pytest.raises(ProtocolError, match="count exceeds"):
        check_update(bytes.fromhex("8080808001"))


@given(st.binary(max_size=300))
def test_any_bytes_pass_or_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        check_update(data)
    with contextlib.suppress(ProtocolError):
        check_state_vector(data)


@given(st.integers(0, 2**32), st.integers(0, 50))
@settings(max_examples=50)
def test_mutations_pass_or_raise_protocol_error(seed: int, index: int) -> None:
    rng = random.Random(seed)
    edits = tiptap_edits()
    with contextlib.suppress(ProtocolError):
        check_update(mutate(rng, edits[index % len(edits)]))


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.lists(st.tuples(st.sampled_from(["text", "xml", "map", "array"]), values), max_size=8))
@settings(max_examples=60, deadline=None)
def test_what_pycrdt_writes_passes(edits: list[tuple[str, object]]) -> None:
    doc: Doc[object] = Doc()
    doc["t"], doc["x"], doc["m"], doc["a"] = Text(), XmlFragment(), Map(), Array()
    for i, (kind, value) in enumerate(edits):
        with doc.transaction():
            if kind == "text":
                doc["t"].insert(0, str(value), {"bold": value} if i % 2 else None)
            elif kind == "xml":
                doc["x"].children.append(XmlElement("p", {"v": str(value)}, [XmlText("x")]))
            elif kind == "map":
                doc["m"][str(i)] = value
            else:
                doc["a"].append(value)
        if i % 3 == 2 and len(doc["t"]):
            with doc.transaction():
                del doc["t"][0:1]
    check_update(doc.get_update())
    check_state_vector(doc.get_state())
