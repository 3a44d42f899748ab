"""The `portal` command as an operator uses it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.backends import fresh_database_url

PORTAL = str(Path(sys.executable).with_name("portal"))  # the venv running the tests


def _clean_env(**extra: str) -> dict[str, str]:
    """The machine's environment without any of our variables, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "STRIPE_", "XERO_"))}
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bad_setting_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [PORTAL, "serve"],
        env=_clean_env(PORTAL_DATABASE_URL="mysql://root@localhost/db"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == ("PORTAL_DATABASE_URL: unsupported scheme 'mysql' (use sqlite:// or postgresql://)")


async def test_migrate_twice_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    async with fresh_database_url(tmp_path) as url:
        env = _clean_env(PORTAL_DATABASE_URL=url)
        first = subprocess.run([PORTAL, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        second = subprocess.run([PORTAL, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    applied = re.search(r"\((\d+) migrations? applied\)", first.stdout)
    assert applied is not None
    assert int(applied.group(1)) >= 1
    assert second.returncode == 0, second.stderr
    assert "0 migrations applied" in second.stdout


async def test_workspace_create_prints_one_json_line(tmp_path: Path) -> None:
    async with fresh_database_url(tmp_path) as url:
        env = _clean_env(PORTAL_DATABASE_URL=url)
        args = ["workspace", "create", "--name", "Harbour & Co", "--admin-email", "Admin@Harbour.example"]
        result = subprocess.run(
            [PORTAL, *args, "--admin-password", "a long password"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        weak = subprocess.run(
            [PORTAL, *args, "--admin-password", "short"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    created = json.loads(lines[0])
    assert set(created) == {"workspace_id", "api_token"}
    assert len(created["api_token"]) > 40
    assert weak.returncode == 2
    assert "--admin-password" in weak.stderr


@pytest.mark.timeout(90)
def test_serve_with_no_environment_answers_health(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [PORTAL, "serve", "--port", str(port)],
        env=_clean_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        response = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert response is not None, server.stderr.read().decode() if server.stderr else "server died"
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert (tmp_path / "portal.sqlite3").exists()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
