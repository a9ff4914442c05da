"""A room fed valid, mutated and hostile updates never crashes, and always equals a
reference document fed only the updates it accepted; so does what its journal replays to."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc

from collab.errors import CollabError
from collab.room import NeedsResync
from tests.hostile import corpus, crafted, mutate, tiptap_edits
from tests.rooms import content_of, harness, phase

BASE = tiptap_edits()
HOSTILE = list(crafted().values()) + [case.update for case in corpus()]
KINDS = ["valid", "mutated", "mutated", "hostile"]

steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 1000), st.integers(0, 2**32)), max_size=40
)


def pick(kind: str, index: int, seed: int) -> bytes:
    if kind == "valid":
        return BASE[index % len(BASE)]
    if kind == "hostile":
        return HOSTILE[index % len(HOSTILE)]
    return mutate(random.Random(seed), BASE[index % len(BASE)])


def replayed(updates: list[bytes]) -> Doc[object]:
    doc: Doc[object] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
async def test_a_room_equals_a_reference_fed_what_it_accepted(
    script: list[tuple[str, int, int]],
) -> None:
    async with harness() as h:
        accepted: list[bytes] = []
        room = await h.manager.get(phase())
        peer, _ = h.peer()
        room.join(peer)
        for kind, index, seed in script:
            update = pick(kind, index, seed)
            try:
                committed = room.apply_from_peer(peer, update)
            except (CollabError, NeedsResync):
                committed = None
            if committed is not None:  # it changed the document: stored
                accepted.append(update)
            if room.damaged:  # its peers reconnect to a replica read from the journal
                room = await h.manager.get(phase())
                peer, _ = h.peer()
                room.join(peer)
            assert content_of(room.doc) == content_of(replayed(accepted))
        await h.journal.flush()
        assert h.log.updates(str(phase())) == accepted
