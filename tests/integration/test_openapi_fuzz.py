"""Schemathesis against the live server: no 500 anywhere, every answer as /openapi.json says.

The fuzzer is synchronous (requests), so it runs in a worker thread while the server keeps
serving on the test loop. Generation is derandomized and small, so a run is deterministic and
takes well under a minute.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import RunningServer, bearer, make_account


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """5xx never, except 503: the documented answer when no chat model is configured."""
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"{case.operation.label} answered {response.status_code}")
    return None


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz_operation(
    operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str], fixed: Any
) -> None:
    checks = [*CHECKS, negative_data_rejection] if mode == GenerationMode.NEGATIVE else CHECKS
    signed_in = "authorization" in headers

    @settings(
        # Signed out, most operations stop at 401: fewer examples find what there is to find.
        max_examples=20 if signed_in else 8,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)

    run()


def fuzz(base_url: str, headers: dict[str, str], project_id: str | None = None) -> list[str]:
    """Every operation, positive and negative data; returns what failed."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletes last, so the project the other operations use still exists while they run.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    failures = []
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = {"project_id": project_id} if project_id and "project_id" in names else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, base_url, headers, fixed)
            # Report every operation, not just the first (schemathesis raises a
            # BaseExceptionGroup of its failures).
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


async def test_fuzz_signed_out(server: RunningServer) -> None:
    failures = await asyncio.to_thread(fuzz, server.base_url, {})
    assert not failures, "\n\n".join(failures)


async def test_fuzz_signed_in_as_a_project_owner(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    owner = await make_account(client)
    r = await client.post("/api/projects", json={"name": "fuzzed"}, headers=bearer(owner))
    failures = await asyncio.to_thread(fuzz, server.base_url, bearer(owner), r.json()["id"])
    assert not failures, "\n\n".join(failures)
