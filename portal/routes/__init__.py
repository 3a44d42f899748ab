"""Client portal pages."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from portal.deps import provide_client, require_client
from portal.routes.links import fresh_link, magic_link
from portal.routes.requests import invoice_copy, request_view

_signed_in = Router(
    path="/",
    guards=[require_client],
    dependencies={"client": Provide(provide_client)},
    route_handlers=[request_view, invoice_copy],
)

portal_router = Router(path="/", route_handlers=[magic_link, fresh_link, _signed_in], include_in_schema=False)
