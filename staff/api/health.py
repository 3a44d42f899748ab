"""`GET /api/v1/health`: no auth; checks the database and the queue."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from core.health import check_health
from staff.schemas import HealthOut


@get(
    "/health",
    summary="Liveness and readiness",
    exclude_from_csrf=True,
    responses={503: ResponseSpec(HealthOut, generate_examples=False, description="The database or queue is down")},
)
async def health(state: State) -> Response[HealthOut]:
    """200 `{"status": "ok"}` when the database and queue answer, else 503 naming what failed."""
    checks = await check_health(state.queue)
    healthy = all(checks.values())
    return Response(
        HealthOut(status="ok" if healthy else "unavailable", checks=checks),
        status_code=HTTP_200_OK if healthy else HTTP_503_SERVICE_UNAVAILABLE,
    )
