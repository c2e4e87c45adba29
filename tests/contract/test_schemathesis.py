"""Schemathesis generates requests for every operation of the OpenAPI document: none may
answer 5xx. Runs on SQLite and PostgreSQL (where NUL bytes and integer overflow bite).

``RAPPORT_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (default 8; the figures in
docs/benchmarks.md come from a run with 100).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

EXAMPLES = int(os.environ.get("RAPPORT_SCHEMATHESIS_EXAMPLES", "8"))


def _server_errors(schema: Any, headers: dict[str, str]) -> tuple[int, list[str]]:
    calls = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised: a 500 in production  # noqa: BLE001
                failures.append(f"{case.method} {case.formatted_path} raised {exc!r:.200}: "
                                f"{case.as_curl_command()[:300]}")
                return
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{case.as_curl_command()[:300]}")

        try:
            call()
        except Unsatisfiable:
            continue
    return calls, failures


def test_no_generated_request_gets_a_server_error(app: FastAPI, api_tokens: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    calls, failures = _server_errors(schema, {"Authorization": f"Bearer {api_tokens['admin']}"})
    assert calls > 500, f"only {calls} requests were generated"
    assert not failures, "\n".join(failures[:20])
