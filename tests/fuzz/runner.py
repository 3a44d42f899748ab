"""Schemathesis against the app's own OpenAPI document, with ids steered towards seeded objects.

Schemathesis generates each case from `/schema/openapi.json`; before the call, path and body ids
are often swapped for ids of a seeded workspace (random strings alone would almost never hit a
real invoice). Every answer goes through Schemathesis's checks (no 5xx, status code documented,
body matches the documented schema, content type, schema-valid input accepted and invalid input
refused) plus ours: the contract's error shape on every 4xx, and, when given, a leak guard.
What fails is tallied, not raised, so a run reports everything it found.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import BASE_URL

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]

_CONFIG = {
    "checks": {
        # A schema-valid request may still break a rule the schema cannot state (an unknown or closed
        # invoice, a date in the past); the contract answers those 422: accepted input, handled well.
        "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]},
    },
    # OpenAPI lets a server ignore query parameters it does not know, and ours does (the contract
    # names none as errors), so an extra one is not invalid input here.
    "generation": {"allow-extra-parameters": False},
}

ID_PATH_PARAMETERS = {
    "client_id": "clients",
    "invoice_id": "invoices",
    "request_id": "requests",
    "connection_id": "connections",
}
"""Path parameter → which kind of seeded id to put there."""

ID_BODY_FIELDS = {"invoice_ids": "invoices", "payment_method_id": "payment_methods"}
"""JSON body field → kind of id (a list field gets a list)."""

ID_QUERY_PARAMETERS = {"client_id": "clients"}


def load_schema(document: dict[str, Any]) -> schemathesis.BaseSchema:
    """The app's OpenAPI document as Schemathesis sees it, with our check settings."""
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(_CONFIG))


def api_operations(schema: schemathesis.BaseSchema) -> list[APIOperation]:
    """Every operation of the document (a document Schemathesis cannot read fails here)."""
    return [result.ok() for result in schema.get_all_operations()]


@dataclass
class Tally:
    """What a fuzz run did and found; failures are keyed by a short description so repeats count once."""

    operations: set[str] = field(default_factory=set)
    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    server_errors: int = 0
    violations: dict[str, str] = field(default_factory=dict)
    leaks: dict[str, str] = field(default_factory=dict)
    rule_rejections: collections.Counter[str] = field(default_factory=collections.Counter)

    def problems(self) -> list[str]:
        """Every distinct violation and leak, with one example each."""
        return [f"{key}\n{detail}" for key, detail in (*self.violations.items(), *self.leaks.items())]

    def report(self) -> str:
        """The figures, then every problem: what a failed assertion shows."""
        return "\n\n".join([self.summary(), *self.problems()])

    def summary(self) -> str:
        """The figures a run prints."""
        lines = [
            f"operations            {len(self.operations)}",
            f"requests              {self.requests:,}",
            "statuses              " + ", ".join(f"{code}: {n:,}" for code, n in sorted(self.statuses.items())),
            f"5xx                   {self.server_errors}",
            f"schema violations     {len(self.violations)} distinct",
            f"cross-workspace leaks {len(self.leaks)} distinct",
        ]
        if self.rule_rejections:
            lines.append("schema-valid input refused by a rule (422), most common:")
            lines += [f"  {n:>6,}  {what}" for what, n in self.rule_rejections.most_common(8)]
        return "\n".join(lines)


ExtraCheck = Callable[[Case, requests.Response], str | None]
"""Our own check: a description of what is wrong with the answer, or None."""


@dataclass
class LeakGuard:
    """Another workspace's ids, names, emails and amounts, none of which may appear in an answer.

    A value the request itself carried is not searched for: echoing the caller's own input back
    (`"<id> (unknown)"`) reveals nothing, and unknown and foreign ids are answered alike.
    """

    secrets: frozenset[str]

    def check(self, response: requests.Response) -> str | None:
        """The foreign values found in the answer, if any."""
        sent = f"{response.request.url} {response.request.body!r}"
        found = sorted(secret for secret in self.secrets if secret in response.text and secret not in sent)
        return f"{response.status_code} reveals {found}" if found else None


@dataclass
class IdPool:
    """Ids a fuzz run steers cases towards, by kind (`invoices`, `clients`...)."""

    ids: dict[str, Sequence[str]]

    def choices(self, kind: str) -> Sequence[str]:
        """The ids of one kind (empty when the pool has none)."""
        return self.ids.get(kind, ())


class Fuzzer:
    """Runs Schemathesis cases through a `requests` session authenticated with one workspace's token."""

    def __init__(
        self,
        session: requests.Session,
        token: str,
        pool: IdPool,
        tally: Tally,
        *,
        extra_checks: Iterable[ExtraCheck] = (),
        leak_guard: LeakGuard | None = None,
        always_steer: bool = False,
    ) -> None:
        self.session = session
        self.token = token
        self.pool = pool
        self.tally = tally
        self.extra_checks = [lambda _, response: error_shape(response), *extra_checks]
        self.leak_guard = leak_guard
        # Three in four cases get real ids; the rest keep what Schemathesis generated (malformed ids too).
        self.steer = st.just(True) if always_steer else st.integers(0, 3).map(bool)

    def run(self, operation: APIOperation, mode: GenerationMode, *, examples: int, run_seed: int) -> None:
        """Up to `examples` generated calls of one operation; a mode with nothing to generate is skipped."""
        strategy = operation.as_strategy(generation_mode=mode)

        @seed(run_seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, data=st.data())
        def fuzz(case: Case, data: st.DataObject) -> None:
            self._steer(case, data)
            self._call(operation, case)

        with contextlib.suppress(Unsatisfiable):  # e.g. a lone string path parameter has no negative form
            fuzz()

    def run_all(
        self, operations: Iterable[APIOperation], modes: Iterable[GenerationMode], *, examples: int, run_seed: int
    ) -> None:
        """`run` for every operation in every mode."""
        for operation in operations:
            for mode in modes:
                self.run(operation, mode, examples=examples, run_seed=run_seed)

    def _steer(self, case: Case, data: st.DataObject) -> None:
        """Most of the time, put real ids where the case has id-shaped inputs."""
        steer = self.steer
        for name, kind in ID_PATH_PARAMETERS.items():
            pool = self.pool.choices(kind)
            if case.path_parameters and name in case.path_parameters and pool and data.draw(steer):
                case.path_parameters[name] = data.draw(st.sampled_from(pool))
        for name, kind in ID_QUERY_PARAMETERS.items():
            pool = self.pool.choices(kind)
            if isinstance(case.query, dict) and name in case.query and pool and data.draw(steer):
                case.query[name] = data.draw(st.sampled_from(pool))
        if isinstance(case.body, dict):
            for name, kind in ID_BODY_FIELDS.items():
                pool = self.pool.choices(kind)
                if name in case.body and pool and data.draw(steer):
                    value = case.body[name]
                    picked = st.lists(st.sampled_from(pool), min_size=1, max_size=4)
                    case.body[name] = data.draw(picked) if isinstance(value, list) else data.draw(st.sampled_from(pool))

    def _call(self, operation: APIOperation, case: Case) -> None:
        if not (case.meta and case.meta.is_negative_at(ParameterLocation.HEADER)):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {self.token}"}
        response = case.call(session=self.session, base_url=BASE_URL)
        tally = self.tally
        tally.operations.add(operation.label)
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        if response.status_code == 422 and case.meta and case.meta.generation.mode == GenerationMode.POSITIVE:
            tally.rule_rejections[f"{operation.label}: {_error_message(response)}"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                tally.violations.setdefault(f"{operation.label}: {failure.title}", str(group)[:3000])
        for check in self.extra_checks:
            if (problem := check(case, response)) is not None:
                tally.violations.setdefault(f"{operation.label}: {problem}", case.as_curl_command())
        if self.leak_guard is not None and (leak := self.leak_guard.check(response)) is not None:
            tally.leaks.setdefault(f"{operation.label}: {leak}", case.as_curl_command())


def error_shape(response: requests.Response) -> str | None:
    """Every 4xx of the API carries `{"error": {"code", "message", "fields"}}`."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} without the error shape: {response.text[:200]!r}"
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("fields"), dict)
    ):
        return f"{response.status_code} with a malformed error: {response.text[:200]!r}"
    return None


def _error_message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:120]
    except (ValueError, KeyError, TypeError):
        return response.text[:120]
