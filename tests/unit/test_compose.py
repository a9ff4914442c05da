"""docker-compose.yml: settings the app reads, one published port, a balancer for websockets.

Docker does not run here, so this checks what can go wrong without it: a misspelt variable
(silently ignored by Settings), a replica published past the balancer, a balancer config
that is missing, does not speak HTTP to the replicas, or is not the proxy the app trusts.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.proxies import parse_networks
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("server", "worker")
BALANCER = "balancer"

# Variables set for the app that Settings does not read, each with its reader. None today:
# every one in the compose file is a setting.
READ_ELSEWHERE: dict[str, str] = {}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def setting_env_names() -> set[str]:
    """What pydantic-settings reads: each field by name and by alias, case-insensitively."""
    config = Settings.model_config
    assert not config.get("env_prefix") and not config.get("case_sensitive")
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        if field.alias:
            names.add(field.alias.upper())
    return names


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE form
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_every_app_variable_is_read(compose: dict[str, Any]) -> None:
    known = setting_env_names() | set(READ_ELSEWHERE)
    for name in APP_SERVICES:
        unknown = set(environment(compose["services"][name])) - known
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_only_the_balancer_publishes_a_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert [name for name, s in services.items() if s.get("ports")] == [BALANCER]
    assert services[BALANCER]["ports"] == ["8000:8000"]


def balancer_config(compose: dict[str, Any]) -> str:
    mounts = [v.split(":") for v in compose["services"][BALANCER]["volumes"]]
    [source] = [src for src, target, *_ in mounts if target.endswith("haproxy.cfg")]
    path = ROOT / source
    assert path.is_file(), f"the balancer mounts {source}, which does not exist"
    return path.read_text()


def directives(config: str) -> list[str]:
    lines = (line.partition("#")[0].strip() for line in config.splitlines())
    return [re.sub(r"\s+", " ", line) for line in lines if line]


def test_balancer_proxies_websockets_to_ready_replicas(compose: dict[str, Any]) -> None:
    found = directives(balancer_config(compose))
    # HTTP mode handles Upgrade: websocket itself (a 101 turns the connection into a tunnel);
    # tcp mode would hide the requests, and a tunnel without its timeout would be cut early.
    assert "mode http" in found and "mode tcp" not in found
    assert any(d.startswith("timeout tunnel ") for d in found)
    assert "option httpchk GET /readyz" in found
    # Replicas come from Docker's DNS, asked again while running, not once at start-up.
    assert "nameserver dns 127.0.0.11:53" in found
    [template] = [d for d in found if d.startswith("server-template ")]
    assert template.split()[-1] == "server:8000" and "server" in compose["services"]
    assert any(d.startswith("default-server ") and "resolvers docker" in d for d in found)


def test_replicas_trust_the_balancer_and_only_it(compose: dict[str, Any]) -> None:
    found = directives(balancer_config(compose))
    assert "option forwardfor" in found
    assert "http-request del-header X-Forwarded-For" in found  # clients cannot pick one
    address = ipaddress.ip_address(
        compose["services"][BALANCER]["networks"]["default"]["ipv4_address"]
    )
    for name in APP_SERVICES:
        trusted = parse_networks(environment(compose["services"][name])["TRUSTED_PROXIES"])
        assert [address in network for network in trusted] == [True]
        assert all(network.num_addresses == 1 for network in trusted)
    # Docker hands out addresses from ip_range only: none can be given the balancer's.
    [pool] = compose["networks"]["default"]["ipam"]["config"]
    assert address in ipaddress.ip_network(pool["subnet"])
    assert address not in ipaddress.ip_network(pool["ip_range"])
