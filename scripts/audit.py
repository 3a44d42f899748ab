"""Audit the installed dependencies for known vulnerabilities with pip-audit; fail on any.

Run by `.ci/run` with the project's virtualenv: `.venv/bin/python scripts/audit.py`.

pip-audit reports a package it could not look up as skipped and still says "No known
vulnerabilities found", so a machine that cannot reach the vulnerability service passes an audit
that never happened. This script reads pip-audit's JSON and says which of three things happened:

- a vulnerability was found: each is listed and the exit status is 1;
- the service could not be reached for (nearly) every package: one line says the audit could not
  run and why; exit 0, or 1 when `PORTAL_AUDIT_REQUIRED=1`;
- otherwise: how many packages were audited (and which were skipped, e.g. not published on PyPI).

Environment:
    PORTAL_AUDIT_SERVICE   `pypi` (default) or `osv`
    PORTAL_AUDIT_OSV_URL   an OSV-compatible query URL (implies `osv`), e.g. an internal mirror
    PORTAL_AUDIT_REQUIRED  `1`: an audit that could not run fails too
    PORTAL_AUDIT_TIMEOUT   seconds per request (default 15)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

UNREACHABLE_SHARE = 0.9
"""When at least this share of packages could not be looked up, the audit did not really run."""


@dataclass
class Outcome:
    """What an audit found."""

    audited: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Package name → pip-audit's reason."""
    vulnerabilities: list[str] = field(default_factory=list)
    """One line per vulnerability: package, version, id, fixed versions."""
    error: str | None = None
    """pip-audit itself failed (e.g. the OSV host did not resolve)."""

    @property
    def could_not_run(self) -> bool:
        """No real audit: pip-audit failed, or (nearly) every package went unchecked."""
        total = len(self.audited) + len(self.skipped)
        return self.error is not None or total == 0 or len(self.skipped) >= UNREACHABLE_SHARE * total


def summarise(report: dict[str, Any]) -> Outcome:
    """Read pip-audit's JSON report (`--format json`)."""
    outcome = Outcome()
    for dependency in report.get("dependencies", []):
        name = str(dependency.get("name"))
        if dependency.get("skip_reason"):
            outcome.skipped[name] = str(dependency["skip_reason"])
            continue
        outcome.audited.append(name)
        for vulnerability in dependency.get("vulns") or []:
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed version yet"
            outcome.vulnerabilities.append(
                f"{name} {dependency.get('version')}: {vulnerability.get('id')} (fixed in: {fixed})"
            )
    return outcome


def verdict(outcome: Outcome, *, service: str, required: bool) -> tuple[int, list[str]]:
    """Exit status and the lines to print."""
    if outcome.vulnerabilities:
        lines = [f"pip-audit: {len(outcome.vulnerabilities)} known vulnerabilities in installed dependencies:"]
        return 1, lines + [f"  {line}" for line in outcome.vulnerabilities]
    if outcome.could_not_run:
        total = len(outcome.audited) + len(outcome.skipped)
        if outcome.error is not None:
            why = outcome.error
        else:
            first = next(iter(outcome.skipped.values()), "no dependencies were found")
            why = f"{len(outcome.skipped)} of {total} packages could not be looked up (e.g. {first})"
        status = "failing, as PORTAL_AUDIT_REQUIRED=1 asks" if required else "not failing CI for an unreachable service"
        return (1 if required else 0), [
            f"pip-audit: the audit could not run: the vulnerability service ({service}) was not reachable: {why}; "
            f"{status} (set PORTAL_AUDIT_SERVICE or PORTAL_AUDIT_OSV_URL to use another service)"
        ]
    lines = [f"pip-audit: {len(outcome.audited)} packages audited against {service}, no known vulnerabilities"]
    if outcome.skipped:
        lines.append(f"  not audited: {', '.join(sorted(outcome.skipped))}")
    return 0, lines


def run_pip_audit(service: str, osv_url: str | None, timeout: str) -> Outcome:
    """Run pip-audit on this interpreter's environment (our own editable package left out)."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--local",
        "--skip-editable",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        timeout,
        "--vulnerability-service",
        service,
    ]
    if osv_url:
        command += ["--osv-url", osv_url]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    try:
        report = json.loads(result.stdout)
    except ValueError:
        last = (result.stderr.strip().splitlines() or [f"pip-audit exited with status {result.returncode}"])[-1]
        return Outcome(error=last[:300])
    return summarise(report)


def main() -> int:
    """Audit, print the verdict, return the exit status."""
    osv_url = os.environ.get("PORTAL_AUDIT_OSV_URL") or None
    service = "osv" if osv_url else os.environ.get("PORTAL_AUDIT_SERVICE", "pypi")
    if service not in ("pypi", "osv"):
        print(f"PORTAL_AUDIT_SERVICE: use pypi or osv, not {service!r}", file=sys.stderr)  # noqa: T201
        return 2
    outcome = run_pip_audit(service, osv_url, os.environ.get("PORTAL_AUDIT_TIMEOUT", "15"))
    status, lines = verdict(
        outcome, service=osv_url or service, required=os.environ.get("PORTAL_AUDIT_REQUIRED") == "1"
    )
    for line in lines:
        print(line)  # noqa: T201
    return status


if __name__ == "__main__":
    sys.exit(main())
