from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field
from starlette.requests import Request

from server.api import Api, Call, parse_query
from server.errors import Invalid, MalformedJson
from server.inputs import MAX_DEPTH, check_params, load_json
from server.logs import redact
from server.openapi import build_openapi


def test_nesting_is_bounded_without_recursion() -> None:
    assert load_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 5_000, 500_000):
        with pytest.raises(MalformedJson):
            load_json(b"[" * depth + b"]" * depth)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"a": "x\u0000"}, "a"),
        ({"a": [{"b": "\u0000"}]}, "a.0.b"),
        ({"k\u0000": 1}, "k\u0000"),
        ("\u0000", "body"),
        ({"a": ["\ud800"]}, "a.0"),
    ],
)
def test_unstorable_text_names_its_field(value: object, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        load_json(json.dumps(value).encode())
    assert caught.value.details[0]["field"] == field


def test_params_are_checked_too() -> None:
    check_params({"token": "ok", "n": 3}, [("q", "fine")])
    with pytest.raises(Invalid):
        check_params({"token": "a\u0000"}, [])
    with pytest.raises(Invalid):
        check_params({}, [("q", "\u0000")])


def test_redact() -> None:
    assert redact("GET /yjs/projects/x?token=abc.def&x=1") == (
        "GET /yjs/projects/x?token=<redacted>&x=1"
    )
    assert redact("/api/invitations/s3cr3t/accept") == "/api/invitations/<redacted>/accept"
    assert redact("/api/projects/1/invitations") == "/api/projects/1/invitations"


class _Query(BaseModel):
    q: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=50)


def _request(query: bytes) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": query}
    )


@pytest.mark.parametrize("k", ["%C2%B2", "%D9%A3", "1e3", "0", "51", "", "x"])
def test_a_bad_query_value_is_422(k: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_query(_request(f"q=a&k={k}".encode()), _Query)
    assert caught.value.details[0]["field"] == "k"


def test_query_parsing_and_its_openapi_parameters() -> None:
    assert parse_query(_request(b"q=a&k=7"), _Query) == _Query(q="a", k=7)
    api = Api()

    @api.op("GET", "/api/things", tag="t", response=list[str], query=_Query)
    async def things(call: Call) -> list[str]:
        """Things."""
        return []

    spec = build_openapi(api, title="t", version="1")
    params = {p["name"]: p for p in spec["paths"]["/api/things"]["get"]["parameters"]}
    assert params["q"]["in"] == "query" and params["q"]["required"] is True
    assert params["k"]["schema"]["maximum"] == 50 and params["k"]["required"] is False
