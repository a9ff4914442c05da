from __future__ import annotations

import pytest

from server.proxies import TrustedProxies, parse_networks
from server.settings import Settings, SettingsError, load_settings

PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 127.0.0.1"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("198.51.100.1", ["203.0.113.9"], "198.51.100.1"),  # untrusted peer: header ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["spoofed", " 203.0.113.9"], "203.0.113.9"),  # right-most untrusted
        ("127.0.0.1", ["203.0.113.9", "10.1.2.3"], "203.0.113.9"),  # past a chain of proxies
        ("127.0.0.1", ["10.1.2.3", "10.4.5.6"], "10.1.2.3"),  # all trusted: the first
        ("127.0.0.1", ["203.0.113.9:4711"], "203.0.113.9"),
        ("127.0.0.1", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("::ffff:127.0.0.1", ["203.0.113.9"], "203.0.113.9"),  # IPv4-mapped peer
        ("127.0.0.1", ["", " "], "127.0.0.1"),
    ],
)
def test_client_address(peer: str, forwarded_for: list[str], client: str) -> None:
    assert PROXIES.client(peer, forwarded_for) == client


def test_nobody_is_trusted_by_default() -> None:
    nobody = TrustedProxies(Settings(env="test").trusted_proxy_networks)
    assert not nobody.trusts("127.0.0.1")
    assert nobody.client("127.0.0.1", ["203.0.113.9"]) == "127.0.0.1"


def test_a_bad_proxy_setting_stops_start_up() -> None:
    with pytest.raises(SettingsError):
        load_settings(env="test", trusted_proxies="10.0.0.0/8, not-an-address")
