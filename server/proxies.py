"""The client's address: the socket peer, or what a trusted reverse proxy says it forwarded.

uvicorn runs with its own proxy_headers off: its default trusts 127.0.0.1, so any local
process could pick its address by sending X-Forwarded-For. This middleware is the one place
that reads forwarded headers, from TRUSTED_PROXIES only; every later reader (the rate limits,
logs) sees the result in scope["client"].
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """'10.0.0.1, 10.1.0.0/16' → networks; raises ValueError on anything else."""
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False)
        for item in value.split(",")
        if item.strip()
    )


def _host(entry: str) -> str:
    """An X-Forwarded-For entry without its port: '1.2.3.4:5', '[::1]:5', '::1' → the host."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


class TrustedProxies:
    def __init__(self, networks: tuple[Network, ...]) -> None:
        self._networks = networks

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)

    def client(self, peer: str, forwarded_for: list[str]) -> str:
        """The right-most address a trusted proxy did not add itself (each proxy appends)."""
        if not self.trusts(peer):
            return peer
        hosts = [_host(entry) for entry in forwarded_for if entry.strip()]
        for host in reversed(hosts):
            if not self.trusts(host):
                return host
        return hosts[0] if hosts else peer


class ClientAddressMiddleware:
    """Pure ASGI: rewrites scope["client"] and scope["scheme"] for trusted proxies only."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer and self.trusted.trusts(peer[0]):
            scope = self._forwarded(scope, peer[0])
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope, peer: str) -> Scope:
        forwarded_for: list[str] = []
        proto = ""
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        scope = {**scope, "client": (self.trusted.client(peer, forwarded_for), 0)}
        if proto in ("http", "https", "ws", "wss"):
            secure = proto in ("https", "wss")
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        return scope


def client_address(connection: HTTPConnection) -> str:
    """The address the rate limits count: set by ClientAddressMiddleware."""
    return connection.client.host if connection.client else "unknown"
