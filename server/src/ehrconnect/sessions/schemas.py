"""Wire models for Connect Sessions."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, EmailStr, Field

from ehrconnect.api.schemas import Metadata, RequestModel, WireModel, check_patient_id

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def check_return_url(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc or not parts.hostname:
        raise ValueError("return_url must be an absolute URL")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return value
    raise ValueError("return_url must use https (http is allowed only for localhost and 127.0.0.1)")


class SessionCreate(RequestModel):
    patient_id: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_patient_id)]
    return_url: Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(check_return_url)]
    patient_email: EmailStr | None = None
    patient_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    connection_id: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="Direct Mode: a `fhirsrc_` id or a `fhir_base_url`."
    )
    recommended_connection_ids: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=1000)]], Field(max_length=50)] | None
    ) = Field(default=None, description="Picker Mode: sources listed first.")
    return_button_label: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    expires_in: Annotated[int, Field(ge=60, le=86400)] = 1800
    metadata: Metadata = None


SessionStatus = Literal["open", "complete", "expired"]
ConnectionStatus = Literal["active", "failed", "expired", "refresh_failed", "disconnected"]


class SessionConnectionOut(WireModel):
    id: str | None
    connection_id: str
    status: ConnectionStatus
    failure_code: str | None
    failure_at: str | None
    created_at: str


class SessionOut(WireModel):
    id: str
    resource_type: Literal["session"] = "session"
    status: SessionStatus
    url: str
    patient_id: str
    connection_id: str | None
    recommended_connection_ids: list[str] | None
    return_url: str
    return_button_label: str | None
    connections: list[SessionConnectionOut]
    expires_at: str
    metadata: dict[str, Any]
    created_at: str
