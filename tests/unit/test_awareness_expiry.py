"""Awareness of clients that stop renewing (their node died) expires; local clients stay."""

from __future__ import annotations

from collab.protocol.awareness import AwarenessEntry, AwarenessRegistry, decode_awareness


def test_outdated_lists_clients_not_renewed() -> None:
    registry = AwarenessRegistry()
    registry.apply([AwarenessEntry(1, 1, '{"a":1}'), AwarenessEntry(2, 1, '{"b":1}')], now=10.0)
    registry.apply([AwarenessEntry(2, 2, '{"b":2}')], now=40.0)
    assert registry.outdated(before=30.0) == [1]
    removal = registry.remove(registry.outdated(before=30.0))
    assert removal is not None
    [entry] = decode_awareness(removal)
    assert (entry.client_id, entry.clock, entry.removed) == (1, 2, True)
    assert registry.client_ids() == frozenset({2})
