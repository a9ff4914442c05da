"""Attribute values as stored by any client, made safe to read.

y-prosemirror writes what the editor's schema allows, but any Yjs client can put anything in
an element's attributes or a text run's formats: "abc" as a heading level, lists, maps,
bytes, NaN. Reading never fails on them:
- an attribute this schema knows and the value has the wrong type: its default (a heading
  level is clamped to 1..6, a list start to 0..999999999, a language must be a string);
- any other attribute is kept when JSON can hold it; what it cannot (bytes, NaN,
  infinities, shared types) reads as None.
Renderers read known attributes through the same accessors, so ProseMirror JSON stored
before this module existed (in versions) renders too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

SAFE_INTEGER: Final = 2**53 - 1  # what JavaScript (and so every editor) holds exactly
MAX_LIST_START: Final = 999_999_999  # CommonMark's longest list number has nine digits
_MAX_NESTING: Final = 32


def json_value(value: Any, depth: int = 0) -> Any:
    """`value` as JSON can hold it: yrs hands numbers back as floats, ProseMirror has 1."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= SAFE_INTEGER else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) <= SAFE_INTEGER else value
    if depth >= _MAX_NESTING:
        return None
    if isinstance(value, list | tuple):
        return [json_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v, depth + 1) for k, v in value.items()}
    return None  # bytes, shared types: nothing a JSON reader could use


def as_int(value: Any) -> int | None:
    """An integer from a number or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= 20:
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _clamped(low: int, high: int, default: int) -> Callable[[Any], int]:
    def coerce(value: Any) -> int:
        number = as_int(value)
        return default if number is None else min(max(number, low), high)

    return coerce


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_level: Final = _clamped(1, 6, 1)
_start: Final = _clamped(0, MAX_LIST_START, 1)

# Known attributes: each value is coerced to its type or falls back to its default.
NODE_ATTRS: Final[dict[str, dict[str, Callable[[Any], Any]]]] = {
    "heading": {"level": _level},
    "orderedList": {"start": _start, "type": _text_or_none},
    "codeBlock": {"language": _text_or_none},
}
MARK_ATTRS: Final[dict[str, dict[str, Callable[[Any], Any]]]] = {
    "link": {
        "href": _text_or_none,
        "target": _text_or_none,
        "rel": _text_or_none,
        "class": _text_or_none,
        "title": _text_or_none,
    },
}


def _safe(attrs: dict[str, Any], rules: dict[str, Callable[[Any], Any]]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in attrs.items():
        rule = rules.get(str(key))
        safe[str(key)] = rule(value) if rule is not None else json_value(value)
    return safe


def node_attrs(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return _safe(attrs, NODE_ATTRS.get(kind, {}))


def mark_attrs(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return _safe(attrs, MARK_ATTRS.get(kind, {}))


def attrs_of(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def heading_level(node: dict[str, Any]) -> int:
    return _level(attrs_of(node).get("level"))


def list_start(node: dict[str, Any]) -> int:
    return _start(attrs_of(node).get("start", 1))


def list_type(node: dict[str, Any]) -> str | None:
    """An ordered list's numbering type ("a", "I", ...): Tiptap 3 keeps it, null by default."""
    return _text_or_none(attrs_of(node).get("type"))


def code_language(node: dict[str, Any]) -> str | None:
    return _text_or_none(attrs_of(node).get("language"))


def link_href(mark: dict[str, Any]) -> str:
    return _text_or_none(attrs_of(mark).get("href")) or ""


def link_attr(mark: dict[str, Any], name: str) -> str | None:
    return _text_or_none(attrs_of(mark).get(name))
