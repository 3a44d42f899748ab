"""Schemathesis over every operation of `/schema/openapi.json` with a valid token, on a seeded workspace.

No 5xx, every answer documented and matching its schema, schema-valid input accepted (or refused
by a rule with 422), invalid input refused, and every 4xx in the contract's error shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import requests
import schemathesis
from schemathesis import Case, GenerationMode

from tests.fuzz.runner import Fuzzer, IdPool, Tally, api_operations
from tests.fuzz.seeding import SeededWorkspace

EXAMPLES = 20
"""Cases per operation and mode: enough to reach every documented status in CI time."""


async def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema,
    app_requests: requests.Session,
    seeded: Callable[[str], Awaitable[SeededWorkspace]],
) -> None:
    firm = await seeded("Acorn")
    tally = Tally()
    fuzzer = Fuzzer(app_requests, firm.token, IdPool(firm.ids), tally)
    operations = api_operations(api_schema)
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    await asyncio.to_thread(fuzzer.run_all, operations, modes, examples=EXAMPLES, run_seed=7)

    assert not tally.problems(), tally.report()
    assert len(tally.operations) == len(operations)
    assert tally.server_errors == 0
    assert {200, 201, 202, 400, 401, 404, 409, 422} <= set(tally.statuses), tally.summary()


def _unauthorized(case: Case, response: requests.Response) -> str | None:
    return None if response.status_code == 401 else f"answered {response.status_code} to a bad token"


@pytest.mark.parametrize("token", ["", "not-a-token", "Zm9vYmFy" * 6])
async def test_every_operation_refuses_a_bad_token(
    api_schema: schemathesis.BaseSchema, app_requests: requests.Session, token: str
) -> None:
    tally = Tally()
    operations = [op for op in api_operations(api_schema) if op.path != "/api/v1/health"]
    fuzzer = Fuzzer(app_requests, token, IdPool({}), tally, extra_checks=[_unauthorized])
    await asyncio.to_thread(fuzzer.run_all, operations, [GenerationMode.POSITIVE], examples=3, run_seed=1)

    assert not tally.problems(), tally.report()
    assert set(tally.statuses) == {401}
