"""The two websocket endpoints."""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from server.ws.hocuspocus import hocuspocus_endpoint
from server.ws.yjs import yjs_endpoint

ROUTES = [
    WebSocketRoute("/yjs/{name:path}", yjs_endpoint),
    WebSocketRoute("/collab", hocuspocus_endpoint),
]
