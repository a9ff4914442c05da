"""The OpenAPI document, built from the registered operations and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from server.api import Api, Operation, openapi_path

_REF = "#/components/schemas/{model}"
_ERROR = {"$ref": "#/components/schemas/Error"}
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(
        ref_template=_REF, schema_generator=GenerateJsonSchema, mode="serialization"
    )
    defs.update(schema.pop("$defs", {}))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        defs[tp.__name__] = schema
        return {"$ref": _REF.format(model=tp.__name__)}
    return schema


def _query_params(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _content(op: Operation, defs: dict[str, Any]) -> dict[str, Any]:
    if op.response is bytes:  # a file: its type depends on what was asked for
        return {op.media_type or "*/*": {"schema": {"type": "string", "format": "binary"}}}
    if op.media_type is not None:
        return {op.media_type: {"schema": {"type": "string"}}}
    return {"application/json": {"schema": _schema(op.response, defs)}}


def _operation(op: Operation, defs: dict[str, Any]) -> dict[str, Any]:
    _, params = openapi_path(op.path)
    params += _query_params(op.query)
    responses: dict[str, Any] = {}
    if op.response is None:
        code = "204" if op.status == 200 else str(op.status)
        responses[code] = {"description": "no content"}
    else:
        responses[str(op.status)] = {"description": "success", "content": _content(op, defs)}
    responses["default"] = {
        "description": "error",
        "content": {"application/json": {"schema": _ERROR}},
    }
    entry: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": op.handler.__name__,
        "parameters": params,
        "responses": responses,
    }
    if op.body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(op.body, defs)}},
        }
    if op.auth:
        entry["security"] = [{"bearer": []}]
    return entry


def build_openapi(api: Api, *, title: str, version: str) -> dict[str, Any]:
    defs: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for op in api.operations:
        path, _ = openapi_path(op.path)
        paths.setdefault(path, {})[op.method.lower()] = _operation(op, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
