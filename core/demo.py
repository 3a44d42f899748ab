"""Seed data for `portal demo`: a firm, its admin, and nothing secret (all offline)."""

from __future__ import annotations

from staff.services import create_workspace
from staff.tables import StaffUser

DEMO_EMAIL = "demo@firm.example"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - a published demo credential for a local, offline demo.
DEMO_FIRM = "Harbour & Co Accountants"


async def seed_demo() -> None:
    """Create the demo workspace once; later runs keep what is there."""
    if await StaffUser.exists().where(StaffUser.email == DEMO_EMAIL):
        return
    await create_workspace(name=DEMO_FIRM, admin_email=DEMO_EMAIL, admin_password=DEMO_PASSWORD)
