"""The long API fuzz, on demand: Schemathesis for N minutes on the backends you name, then its figures.

    .venv/bin/python -m tests.long.fuzz_api                       # 10 minutes, SQLite + embedded queue
    .venv/bin/python -m tests.long.fuzz_api --minutes 10 \\
        --database-url postgresql://root@127.0.0.1:5432/test --queue-url redis://127.0.0.1:6379/0

It runs the CI fuzz's machinery (tests/fuzz) in rounds with fresh seeds until the time is up: every
operation with workspace A's token on A's objects (valid and invalid input), then every operation with
A's token on B's ids. It prints operations, requests, statuses, 5xx, schema violations and
cross-workspace leaks, and exits non-zero if it found any. The file is a pytest module too (not
collected by the normal run, its name has no `test_` prefix), so it gets the suite's fixtures: a fresh
database, the queue, the ledger sandboxes, localstripe and the mail server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

import pytest
import requests
import schemathesis
from schemathesis import GenerationMode

from tests.fuzz.runner import Fuzzer, IdPool, LeakGuard, Tally, api_operations
from tests.fuzz.seeding import SeededWorkspace, snapshot_changes, workspace_snapshot
from tests.fuzz.test_cross_workspace import foreign_ids, refused

MINUTES_ENV = "PORTAL_FUZZ_MINUTES"
EXAMPLES = 25
"""Cases per operation and mode in one round; each round has a new seed."""


async def test_fuzz_for_minutes(
    api_schema: schemathesis.BaseSchema,
    app_requests: requests.Session,
    seeded: Callable[[str], Awaitable[SeededWorkspace]],
) -> None:
    minutes = float(os.environ.get(MINUTES_ENV, "10"))
    attacker, victim = await seeded("Acorn"), await seeded("Bramble")
    victim_before = await workspace_snapshot(victim.workspace_id)
    operations = api_operations(api_schema)
    own, cross = Tally(), Tally()
    own_fuzzer = Fuzzer(app_requests, attacker.token, IdPool(attacker.ids), own)
    cross_fuzzer = Fuzzer(
        app_requests,
        attacker.token,
        foreign_ids(victim),
        cross,
        extra_checks=[refused],
        leak_guard=LeakGuard(victim.secrets),
        always_steer=True,
    )
    started = time.monotonic()
    deadline = started + minutes * 60
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        for operation in operations:
            if time.monotonic() >= deadline:
                break
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            await asyncio.to_thread(own_fuzzer.run_all, [operation], modes, examples=EXAMPLES, run_seed=rounds)
            positive = [GenerationMode.POSITIVE]
            await asyncio.to_thread(cross_fuzzer.run_all, [operation], positive, examples=EXAMPLES, run_seed=rounds)
        print(f"round {rounds}: {own.requests + cross.requests:,} requests, {time.monotonic() - started:.0f} s")
    victim_changes = snapshot_changes(victim_before, await workspace_snapshot(victim.workspace_id))

    elapsed = time.monotonic() - started
    print(
        f"\n== {elapsed / 60:.1f} minutes, {rounds} rounds, {(own.requests + cross.requests) / elapsed:.0f} requests/s"
    )
    print("\n-- workspace A on its own objects (valid and invalid input)\n" + own.summary())
    print("\n-- workspace A's token on workspace B's ids\n" + cross.summary())
    print(f"B's rows changed       {len(victim_changes)}")
    for problem in own.problems() + cross.problems() + victim_changes:
        print("\n" + problem)
    assert not own.problems()
    assert not cross.problems()
    assert own.server_errors == cross.server_errors == 0
    assert not victim_changes


def main() -> None:
    """Parse the options, point the suite's fixtures at the backends, and run the test above."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz (default 10)")
    parser.add_argument("--database-url", help="postgresql://… (default: a fresh SQLite file)")
    parser.add_argument("--queue-url", help="redis://… (default: the embedded queue)")
    args = parser.parse_args()
    os.environ[MINUTES_ENV] = str(args.minutes)
    for name, value in (("PORTAL_DATABASE_URL", args.database_url), ("PORTAL_QUEUE_URL", args.queue_url)):
        if value:
            os.environ[name] = value
    timeout = int(args.minutes * 60) + 600  # seeding, the last round, and tear-down
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider", f"--timeout={timeout}", "-W", "ignore"]))


if __name__ == "__main__":
    main()
