"""The ASGI application: create_app(settings) -> Starlette, with the route list."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from server.api import Api
from server.errors import EXCEPTION_HANDLERS
from server.lifespan import lifespan
from server.logs import redact_server_logs
from server.metrics import Metrics, metrics_endpoint
from server.middleware import RequestIdMiddleware
from server.openapi import build_openapi
from server.proxies import ClientAddressMiddleware, TrustedProxies
from server.routes import (
    account,
    admin,
    ai,
    audit,
    auth,
    exports,
    health,
    invitations,
    password_reset,
    phases,
    projects,
    workflow,
)
from server.settings import Settings
from server.ws import routes as ws

VERSION = "0.1.0"


def rest_api() -> Api:
    api = Api()
    modules = (auth, password_reset, account, admin, audit, projects, invitations, phases)
    for module in (*modules, workflow, ai, exports):
        api.operations.extend(module.api.operations)
    return api


def create_app(settings: Settings) -> Starlette:
    api = rest_api()
    redact_server_logs()  # here too, for servers that skip configure_logging (tests, embedding)
    routes: list[BaseRoute] = [
        *health.ROUTES,
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *api.routes(),
        *ws.ROUTES,
    ]
    metrics = Metrics()
    app = Starlette(
        routes=routes,
        middleware=[
            # First, so the access log and the rate limits see the real client address.
            Middleware(ClientAddressMiddleware, TrustedProxies(settings.trusted_proxy_networks)),
            Middleware(RequestIdMiddleware),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan(settings, metrics),
    )
    app.state.metrics = metrics
    app.state.openapi = build_openapi(api, title="Unified Assistant", version=VERSION)
    return app
