"""Untrusted REST input, checked once for every route before pydantic or Postgres sees it.

Postgres refuses NUL characters in text (and UTF-8 can't carry lone surrogates), so such a
string would fail deep in a query as a 500; here it is a 422 naming the field. JSON nesting is
bounded, so a 200,000-deep body is a 400, never a RecursionError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from server.errors import Invalid, MalformedJson

MAX_DEPTH = 64
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TOO_DEEP = f"the request body nests deeper than {MAX_DEPTH} levels"


def load_json(raw: bytes) -> Any:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise MalformedJson(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedJson("the request body is not valid JSON") from None
    check_tree(data)
    return data


def check_tree(data: Any) -> None:
    """Depth and storable text, without recursion: the walk itself can't overflow."""
    if isinstance(data, str):
        _check_text(data, ())
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedJson(_TOO_DEEP)
        items: Iterable[tuple[str | int, Any]]
        if isinstance(value, dict):
            for key in value:
                _check_text(key, (*path, key))
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        for key, child in items:
            if isinstance(child, str):
                _check_text(child, (*path, key))
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1, (*path, key)))


def check_params(path_params: Mapping[str, Any], query: Iterable[tuple[str, str]]) -> None:
    """Path and query strings get the same rule as body strings."""
    for name, value in path_params.items():
        if isinstance(value, str):
            _check_text(value, (name,))
    for name, value in query:
        _check_text(name, (name,))
        _check_text(value, (name,))


def _check_text(value: str, path: tuple[str | int, ...]) -> None:
    if _UNSTORABLE.search(value):
        field = ".".join(str(p) for p in path) or "body"
        raise Invalid(
            "text may not contain NUL characters or unpaired surrogates",
            details=[{"field": field, "message": "contains a NUL character or a lone surrogate"}],
        )
