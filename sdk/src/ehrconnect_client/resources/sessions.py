"""``/sessions``: Connect Sessions (picker mode without ``connection_id``, direct mode with it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from .._base import RequestOptions
from .._models import Session
from . import _routes
from ._params import session_body

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["AsyncSessions", "Sessions"]


class Sessions:
    """Create and read Connect Sessions (sync)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        *,
        patient_id: str,
        return_url: str,
        patient_email: str | None = None,
        patient_name: str | None = None,
        connection_id: str | None = None,
        recommended_connection_ids: Sequence[str] | None = None,
        return_button_label: str | None = None,
        expires_in: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Session:
        """``POST /sessions``: returns the session whose ``url`` the patient should open.

        Upserts the patient. ``connection_id`` (a ``fhirsrc_`` id or a ``fhir_base_url``)
        selects direct mode; ``recommended_connection_ids`` orders the picker. The two are
        mutually exclusive (the server answers 400 if both are given).
        """
        body = session_body(
            patient_id=patient_id,
            return_url=return_url,
            patient_email=patient_email,
            patient_name=patient_name,
            connection_id=connection_id,
            recommended_connection_ids=recommended_connection_ids,
            return_button_label=return_button_label,
            expires_in=expires_in,
            metadata=metadata,
        )
        return self._client._request(
            "POST", _routes.SESSIONS, Session, body=body, idempotency_key=idempotency_key, options=options
        )

    def retrieve(self, session_id: str, **options: Unpack[RequestOptions]) -> Session:
        """``GET /sessions/{id}``: the server-side truth after the patient returns."""
        return self._client._request("GET", _routes.session(session_id), Session, options=options)


class AsyncSessions:
    """Create and read Connect Sessions (async)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        patient_id: str,
        return_url: str,
        patient_email: str | None = None,
        patient_name: str | None = None,
        connection_id: str | None = None,
        recommended_connection_ids: Sequence[str] | None = None,
        return_button_label: str | None = None,
        expires_in: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Session:
        """``POST /sessions``; see :meth:`Sessions.create`."""
        body = session_body(
            patient_id=patient_id,
            return_url=return_url,
            patient_email=patient_email,
            patient_name=patient_name,
            connection_id=connection_id,
            recommended_connection_ids=recommended_connection_ids,
            return_button_label=return_button_label,
            expires_in=expires_in,
            metadata=metadata,
        )
        return await self._client._request(
            "POST", _routes.SESSIONS, Session, body=body, idempotency_key=idempotency_key, options=options
        )

    async def retrieve(self, session_id: str, **options: Unpack[RequestOptions]) -> Session:
        """``GET /sessions/{id}``."""
        return await self._client._request("GET", _routes.session(session_id), Session, options=options)
