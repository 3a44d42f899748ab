"""Workspace A's token with workspace B's ids: every answer is a refusal, none reveals B, B is unchanged."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import requests
import schemathesis
from schemathesis import Case, GenerationMode

from tests.fuzz.runner import Fuzzer, IdPool, LeakGuard, Tally, api_operations
from tests.fuzz.seeding import SeededWorkspace, snapshot_changes, workspace_snapshot

EXAMPLES = 25

LISTINGS = frozenset({"GET /api/v1/health", "GET /api/v1/invoices", "GET /api/v1/ledger-connections"})
"""Operations that address no object by id: a foreign id there is a filter matching nothing (200, empty)."""

CREATING = frozenset({"POST /api/v1/ledger-connections"})
"""Starts a connection of the caller's own workspace; no id of anyone's goes in."""


def foreign_ids(victim: SeededWorkspace) -> IdPool:
    """B's ids of every kind, mixed with well-formed ids nobody has."""
    return IdPool({kind: [*ids, str(uuid.uuid4())] for kind, ids in victim.ids.items()})


def refused(case: Case, response: requests.Response) -> str | None:
    """Aimed at B's objects, A gets 404 (or 403/422 for a rule), never a success."""
    label = case.operation.label
    if label in LISTINGS or label in CREATING or response.status_code in (403, 404, 422):
        return None
    return f"answered {response.status_code} to another workspace's id"


async def test_another_workspaces_ids_are_refused_and_never_revealed(
    api_schema: schemathesis.BaseSchema,
    app_requests: requests.Session,
    seeded: Callable[[str], Awaitable[SeededWorkspace]],
) -> None:
    attacker, victim = await seeded("Acorn"), await seeded("Bramble")
    before = await workspace_snapshot(victim.workspace_id)
    tally = Tally()
    fuzzer = Fuzzer(
        app_requests,
        attacker.token,
        foreign_ids(victim),
        tally,
        extra_checks=[refused],
        leak_guard=LeakGuard(victim.secrets),
        always_steer=True,
    )
    operations = api_operations(api_schema)
    await asyncio.to_thread(fuzzer.run_all, operations, [GenerationMode.POSITIVE], examples=EXAMPLES, run_seed=11)

    assert not tally.problems(), tally.report()
    assert tally.server_errors == 0
    assert tally.statuses[404] > 0
    assert snapshot_changes(before, await workspace_snapshot(victim.workspace_id)) == []
