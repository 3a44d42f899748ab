"""The OpenAPI document at `/schema/openapi.json`, made to say what the API really answers.

Litestar documents a success response and its own validation error by default. The API answers
every error in the contract's shape (`core.errors.ErrorEnvelope`), authenticates with a bearer
token and refuses unknown body fields; this module documents those three facts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.typing import FieldDefinition

from core.errors import ErrorEnvelope

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

BEARER = "bearer"
"""Name of the API token's security scheme; routes list it in `security`."""

_ERROR_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, wrong types or unknown fields (`fields` names them)",
    401: "Missing or invalid API token",
    403: "Not allowed for this token",
    404: "No such object in this workspace (another workspace's object answers the same)",
    409: "The object's current state does not allow this",
    422: "Well-formed input that breaks a rule (`fields` names it)",
    429: "Too many requests; see Retry-After",
}


def api_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """Document the error statuses an operation can answer, all in the contract's error shape."""
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope, generate_examples=False, description=_ERROR_DESCRIPTIONS[status]
        )
        for status in statuses
    }


def allowed_values(*values: str) -> dict[str, Any]:
    """`schema_extra` naming a string's accepted values, for inputs a service checks itself (answering 422)."""
    return {"enum": list(values)}


def documented(schema: dict[str, Any]) -> msgspec.Meta:
    """Annotate a struct field with schema keywords (`Schema` attribute names) that its service enforces.

    The service answers 422 naming the field, which msgspec's own constraints would turn into a 400.
    """
    return msgspec.Meta(extra_json_schema={"extra": schema})


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Structs declared with `forbid_unknown_fields` say so with `additionalProperties: false`.

    Litestar's own plugin (subclassed from its private module: there is no public hook for this in
    the v2 line) leaves the flag out, so the document would promise that unknown fields are accepted.
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """Litestar's schema for the struct, closed to unknown fields when the struct refuses them."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def openapi_config() -> OpenAPIConfig:
    """The document's metadata and the bearer-token scheme the API routes refer to."""
    return OpenAPIConfig(
        title="Collections portal API",
        version="1.0.0",
        path="/schema",
        description="Staff JSON API: invoices, payment requests, ledger connections and collections.",
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http", scheme="bearer", description="The workspace's API token (`portal workspace create`)."
                )
            }
        ),
    )
