"""scripts/audit.py: fails on a known vulnerability, says plainly when the audit could not run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit.py"
VULNERABLE = "click"  # installed everywhere the tests run


class _FakeOsv(BaseHTTPRequestHandler):
    """An OSV query endpoint that knows one vulnerability (or none, when `clean`)."""

    clean = False

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["content-length"])))
        body: dict[str, object] = {}
        if not self.clean and query["package"]["name"] == VULNERABLE:
            body = {
                "vulns": [
                    {
                        "id": "PYSEC-0000-TEST",
                        "summary": "A test vulnerability",
                        "affected": [
                            {
                                "package": {"name": VULNERABLE, "ecosystem": "PyPI"},
                                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99"}]}],
                            }
                        ],
                    }
                ]
            }
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_osv() -> Iterator[tuple[str, type[_FakeOsv]]]:
    handler = type("Handler", (_FakeOsv,), {"clean": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query", handler
    server.shutdown()


def _audit(**env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_AUDIT_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env={**clean_env, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.timeout(150)
def test_a_known_vulnerability_fails_the_audit(fake_osv: tuple[str, type[_FakeOsv]]) -> None:
    result = _audit(PORTAL_AUDIT_OSV_URL=fake_osv[0])
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{VULNERABLE} " in result.stdout
    assert "PYSEC-0000-TEST (fixed in: 99)" in result.stdout


@pytest.mark.timeout(150)
def test_a_clean_audit_counts_what_it_checked(fake_osv: tuple[str, type[_FakeOsv]]) -> None:
    fake_osv[1].clean = True
    result = _audit(PORTAL_AUDIT_OSV_URL=fake_osv[0])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "packages audited against" in result.stdout
    assert "no known vulnerabilities" in result.stdout


@pytest.mark.timeout(150)
def test_an_unreachable_service_is_reported_and_fails_only_when_required() -> None:
    unreachable = "http://127.0.0.1:9/v1/query"  # nothing listens on the discard port
    lenient = _audit(PORTAL_AUDIT_OSV_URL=unreachable)
    assert lenient.returncode == 0
    assert lenient.stdout.startswith("pip-audit: the audit could not run")
    assert len(lenient.stdout.strip().splitlines()) == 1
    strict = _audit(PORTAL_AUDIT_OSV_URL=unreachable, PORTAL_AUDIT_REQUIRED="1")
    assert strict.returncode == 1
    assert "could not run" in strict.stdout
