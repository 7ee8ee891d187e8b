"""Wire shapes shared by every router: list envelope, tombstones, common query parameters."""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, Literal, TypeVar

from email_validator import EmailNotValidError, validate_email
from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ehrconnect.kit.ids import PREFIXES

T = TypeVar("T")

#: Medblocks reserved id prefixes (the union of every doc generation).
RESERVED_PATIENT_ID_PREFIXES = ("pat_", "sess_", "ps_", "pf_", "conn_", "fhirsrc_", "wh_", "evt_")
assert all(p in RESERVED_PATIENT_ID_PREFIXES for p in (PREFIXES["session"], PREFIXES["connection"]))

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_BYTES = 16_384


class WireModel(BaseModel):
    """Response objects: every declared field is always present (nulls included).

    `json_schema_serialization_defaults_required` makes the OpenAPI document say so too: fields
    with a default (`resource_type`, additive optional fields) are still listed as required.
    """

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class RequestModel(BaseModel):
    """Request bodies: unknown fields are a 400, as the upstream spec's additionalProperties=false."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """PostgreSQL cannot store NUL in text or JSONB: refuse it as a 400, not a 500 later."""
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class ListResponse(WireModel, Generic[T]):
    resource_type: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata can hold at most {MAX_METADATA_KEYS} keys")
    for key in value:
        if not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH:
            raise ValueError(f"metadata keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must serialize to at most {MAX_METADATA_BYTES} bytes")
    return value


def check_email(value: str) -> str:
    """Syntax only (no DNS), normalized domain. Unlike pydantic's EmailStr this accepts the
    RFC 2606 `.test` names that sandbox integrations use; other special-use domains stay refused."""
    try:
        return validate_email(
            value, check_deliverability=False, test_environment=True, globally_deliverable=False
        ).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None


Email = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"}), AfterValidator(check_email)]


def check_patient_id(value: str) -> str:
    # A "/" could never be addressed again: servers and proxies decode %2F before routing.
    if "/" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("patient_id must not contain '/' or control characters")
    if value in {".", ".."}:  # dot segments: clients normalize them away (RFC 3986 §5.2.4)
        raise ValueError("patient_id must not be '.' or '..'")
    if value.startswith(RESERVED_PATIENT_ID_PREFIXES):
        raise ValueError(
            "patient_id must not start with a reserved prefix (" + ", ".join(RESERVED_PATIENT_ID_PREFIXES) + ")"
        )
    return value


Metadata = Annotated[
    dict[str, Any] | None,
    AfterValidator(check_metadata),
    Field(
        description=f"Free-form object: at most {MAX_METADATA_KEYS} keys of 1 to {MAX_METADATA_KEY_LENGTH} "
        f"characters, {MAX_METADATA_BYTES} bytes as JSON.",
        json_schema_extra={
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_LENGTH},
        },
    ),
]

#: `check_patient_id` as a JSON Schema pattern (documentation; the validator is the rule).
PATIENT_ID_PATTERN = (
    r"^(?!\.\.?$)(?!("
    + "|".join(p.rstrip("_") for p in RESERVED_PATIENT_ID_PREFIXES)
    + r")_)[^/\u0000-\u001f\u007f]+$"
)

#: The caller's own patient id: 1..200 characters, no reserved Medblocks id prefix.
PatientId = Annotated[
    str,
    Field(
        min_length=1, max_length=200, description="Your stable patient id (1 to 200 characters).",
        json_schema_extra={"pattern": PATIENT_ID_PATTERN},
    ),
    AfterValidator(check_patient_id),
]

LimitQuery = Annotated[int, Query(ge=1, le=100, description="Page size, 1 to 100.")]
CursorQuery = Annotated[
    str | None, Query(max_length=200, description="The previous page's `next_cursor`.")
]


def cursor_key(cursor: str | None, param: str = "starting_after") -> str | None:
    """Decode a list cursor or answer 400 `invalid_data` naming the parameter."""
    from ehrconnect.errors import APIError
    from ehrconnect.kit.pagination import InvalidCursor, decode_cursor

    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except InvalidCursor:
        raise APIError(
            "invalid_data", "This cursor is malformed; pass back a next_cursor exactly.", param=param
        ) from None
