"""Typed REST operations: one decorator gives a route, body parsing and its OpenAPI entry."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth.tokens import Principal
from server.errors import Invalid, TooLarge, Unauthorized
from server.inputs import check_params, load_json
from server.services import Services
from storage.repos import users

_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


@dataclass(slots=True)
class Call:
    """What a handler gets: the request, the app's services, the caller, body and query."""

    request: Request
    services: Services
    principal: Principal | None
    body: Any
    query: Any = None

    @property
    def user_id(self) -> uuid.UUID:
        if self.principal is None:
            raise Unauthorized("sign in first")
        return self.principal.user_id

    def path(self, name: str) -> Any:
        return self.request.path_params[name]


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None
    response: Any
    status: int
    auth: bool
    query: type[BaseModel] | None = None
    media_type: str | None = None  # of a non-JSON response (str or bytes)


@dataclass
class Api:
    operations: list[Operation] = field(default_factory=list)

    def op(
        self,
        method: str,
        path: str,
        *,
        tag: str,
        body: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        auth: bool = True,
        query: type[BaseModel] | None = None,
        media_type: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            entry = Operation(method, path, handler, summary, tag, body, response, status, auth)
            self.operations.append(replace(entry, query=query, media_type=media_type))
            return handler

        return register

    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op
        return [Route(path, _dispatcher(ops), methods=list(ops)) for path, ops in by_path.items()]


def _dispatcher(ops: dict[str, Operation]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        op = ops[request.method if request.method != "HEAD" else "GET"]
        return await run(op, request)

    return endpoint


async def run(op: Operation, request: Request) -> Response:
    services: Services = request.app.state.services
    check_params(request.path_params, request.query_params.multi_items())
    principal = await authenticate(request, services) if op.auth else None
    query = parse_query(request, op.query)
    body = await parse_body(request, op.body, services.settings.max_body_bytes)
    result = await op.handler(Call(request, services, principal, body, query))
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204 if op.status == 200 else op.status)
    return JSONResponse(_dump(result), op.status)


def _dump(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return TypeAdapter(type(result)).dump_python(result, mode="json")


async def authenticate(request: Request, services: Services) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    principal = services.verify_access_token(token.strip())
    # A valid signature outlives a deleted or disabled account, and a role the token was
    # issued with: one primary-key lookup per request gives the account as it is now.
    role = await users.active_role(services.db, principal.user_id)
    if role is None:
        raise Unauthorized(
            "the account of this token is disabled or no longer exists",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return replace(principal, role=role)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(request: Request, model: type[BaseModel] | None, limit: int) -> Any:
    if model is None:
        return None
    raw = await read_limited(request, limit)
    data = load_json(raw) if raw else None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid("the request body is invalid", details=_fields(exc)) from None


def parse_query(request: Request, model: type[BaseModel] | None) -> Any:
    """The query string as the operation's model: any bad value is a 422, never a 500."""
    if model is None:
        return None
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise Invalid("the query string is invalid", details=_fields(exc)) from None


def _fields(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]


def openapi_path(path: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for name, kind in _PARAM.findall(path):
        schema = {"uuid": {"type": "string", "format": "uuid"}, "int": {"type": "integer"}}.get(
            kind, {"type": "string"}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(r"{\1}", path), params
