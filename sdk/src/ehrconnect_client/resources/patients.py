"""``/patients`` and everything under it: CRUD, sessions, connections, records, sync runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Unpack

from .._base import RequestOptions
from .._models import (
    DeletedPatient,
    DisconnectedConnection,
    Patient,
    PatientDetail,
    Record,
    RecordsPage,
    Session,
    SyncRequested,
    SyncRun,
)
from .._pagination import ListPage
from . import _routes
from ._params import page_params, patient_body, patient_list_params, records_params, session_list_params

if TYPE_CHECKING:
    from .._client import AsyncClient, Client

__all__ = ["AsyncPatients", "Patients"]

RecordTypes = str | Sequence[str]
Since = str | date | datetime


class Patients:
    """Patients of the key's organization and environment (sync)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        patient_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Patient:
        """``POST /patients``. A duplicate ``patient_id`` raises :class:`ConflictError`
        (``external_id_already_exists``)."""
        body = patient_body(patient_id, email=email, name=name, metadata=metadata)
        return self._client._request(
            "POST", _routes.PATIENTS, Patient, body=body, idempotency_key=idempotency_key, options=options
        )

    def retrieve(self, patient_id: str, **options: Unpack[RequestOptions]) -> PatientDetail:
        """``GET /patients/{id}``: the patient with all connections, newest first."""
        return self._client._request("GET", _routes.patient(patient_id), PatientDetail, options=options)

    def update(
        self,
        patient_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Patient:
        """``PUT /patients/{id}``: full replace. Fields left out are **cleared** on the server
        (email and name become null, metadata becomes ``{}``)."""
        body = patient_body(patient_id, email=email, name=name, metadata=metadata)
        return self._client._request("PUT", _routes.patient(patient_id), Patient, body=body, options=options)

    def delete(self, patient_id: str, **options: Unpack[RequestOptions]) -> DeletedPatient:
        """``DELETE /patients/{id}``: irreversible; removes sessions, connections, tokens, records."""
        return self._client._request("DELETE", _routes.patient(patient_id), DeletedPatient, options=options)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        patient_id: str | None = None,
        email: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[Patient]:
        """``GET /patients``, newest first; ``patient_id`` and ``email`` are exact filters."""
        params = patient_list_params(limit=limit, starting_after=starting_after, patient_id=patient_id, email=email)
        return self._client._get_page(_routes.PATIENTS, ListPage[Patient], params, options)

    def iter_all(
        self,
        *,
        limit: int | None = None,
        patient_id: str | None = None,
        email: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Iterator[Patient]:
        """Every patient matching the filters, fetching pages of ``limit`` as needed."""
        return self.list(limit=limit, patient_id=patient_id, email=email, **options).auto_paging_iter()

    def list_sessions(
        self,
        patient_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        status: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[Session]:
        """``GET /patients/{id}/sessions``; ``status`` is ``open``, ``complete`` or ``expired``."""
        params = session_list_params(limit=limit, starting_after=starting_after, status=status)
        return self._client._get_page(_routes.patient(patient_id, "/sessions"), ListPage[Session], params, options)

    def disconnect(
        self, patient_id: str, connection_id: str, **options: Unpack[RequestOptions]
    ) -> DisconnectedConnection:
        """``DELETE /patients/{id}/connections/{conn_id}``: revoke access (``conn_`` id, not ``fhirsrc_``)."""
        return self._client._request(
            "DELETE", _routes.patient_connection(patient_id, connection_id), DisconnectedConnection, options=options
        )

    def records(
        self,
        patient_id: str,
        *,
        type: RecordTypes | None = None,
        since: Since | None = None,
        count: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> RecordsPage:
        """``GET /patients/{id}/records``: latest stored FHIR resources.

        ``type`` takes ``"Observation,Condition"`` or ``["Observation", "Condition"]``; ``since``
        an ISO string, a date, or an aware datetime; ``count`` 1..100 (server default 100).
        """
        params = records_params(
            types=type, since=since, count=count, starting_after=starting_after, ending_before=ending_before
        )
        return self._client._get_page(_routes.patient(patient_id, "/records"), RecordsPage, params, options)

    def iter_records(
        self,
        patient_id: str,
        *,
        type: RecordTypes | None = None,
        since: Since | None = None,
        count: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> Iterator[Record]:
        """Every stored record matching the filters, following ``next_cursor``."""
        return self.records(patient_id, type=type, since=since, count=count, **options).auto_paging_iter()

    def list_sync_runs(
        self,
        patient_id: str,
        connection_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[SyncRun]:
        """``GET /patients/{id}/connections/{conn_id}/sync-runs``: background pull reports
        (ehrconnect extension, not part of the Medblocks API)."""
        params = page_params(limit=limit, starting_after=starting_after)
        route = _routes.patient_connection(patient_id, connection_id, "/sync-runs")
        return self._client._get_page(route, ListPage[SyncRun], params, options)

    def request_sync(
        self,
        patient_id: str,
        connection_id: str,
        *,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncRequested:
        """``POST /patients/{id}/connections/{conn_id}/sync``: queue a pull of an active connection
        now (ehrconnect extension; at most one is queued at a time)."""
        route = _routes.patient_connection(patient_id, connection_id, "/sync")
        return self._client._request(
            "POST", route, SyncRequested, body={}, idempotency_key=idempotency_key, options=options
        )


class AsyncPatients:
    """Patients of the key's organization and environment (async)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        patient_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Patient:
        """``POST /patients``; see :meth:`Patients.create`."""
        body = patient_body(patient_id, email=email, name=name, metadata=metadata)
        return await self._client._request(
            "POST", _routes.PATIENTS, Patient, body=body, idempotency_key=idempotency_key, options=options
        )

    async def retrieve(self, patient_id: str, **options: Unpack[RequestOptions]) -> PatientDetail:
        """``GET /patients/{id}``; see :meth:`Patients.retrieve`."""
        return await self._client._request("GET", _routes.patient(patient_id), PatientDetail, options=options)

    async def update(
        self,
        patient_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Patient:
        """``PUT /patients/{id}`` (full replace); see :meth:`Patients.update`."""
        body = patient_body(patient_id, email=email, name=name, metadata=metadata)
        return await self._client._request("PUT", _routes.patient(patient_id), Patient, body=body, options=options)

    async def delete(self, patient_id: str, **options: Unpack[RequestOptions]) -> DeletedPatient:
        """``DELETE /patients/{id}``; see :meth:`Patients.delete`."""
        return await self._client._request("DELETE", _routes.patient(patient_id), DeletedPatient, options=options)

    async def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        patient_id: str | None = None,
        email: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[Patient]:
        """``GET /patients``; walk all pages with ``auto_paging_aiter()``."""
        params = patient_list_params(limit=limit, starting_after=starting_after, patient_id=patient_id, email=email)
        return await self._client._get_page(_routes.PATIENTS, ListPage[Patient], params, options)

    async def iter_all(
        self,
        *,
        limit: int | None = None,
        patient_id: str | None = None,
        email: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[Patient]:
        """Every patient matching the filters (``async for``)."""
        page = await self.list(limit=limit, patient_id=patient_id, email=email, **options)
        async for patient in page.auto_paging_aiter():
            yield patient

    async def list_sessions(
        self,
        patient_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        status: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[Session]:
        """``GET /patients/{id}/sessions``."""
        params = session_list_params(limit=limit, starting_after=starting_after, status=status)
        route = _routes.patient(patient_id, "/sessions")
        return await self._client._get_page(route, ListPage[Session], params, options)

    async def disconnect(
        self, patient_id: str, connection_id: str, **options: Unpack[RequestOptions]
    ) -> DisconnectedConnection:
        """``DELETE /patients/{id}/connections/{conn_id}``."""
        return await self._client._request(
            "DELETE", _routes.patient_connection(patient_id, connection_id), DisconnectedConnection, options=options
        )

    async def records(
        self,
        patient_id: str,
        *,
        type: RecordTypes | None = None,
        since: Since | None = None,
        count: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> RecordsPage:
        """``GET /patients/{id}/records``; see :meth:`Patients.records`."""
        params = records_params(
            types=type, since=since, count=count, starting_after=starting_after, ending_before=ending_before
        )
        return await self._client._get_page(_routes.patient(patient_id, "/records"), RecordsPage, params, options)

    async def iter_records(
        self,
        patient_id: str,
        *,
        type: RecordTypes | None = None,
        since: Since | None = None,
        count: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[Record]:
        """Every stored record matching the filters (``async for``)."""
        page = await self.records(patient_id, type=type, since=since, count=count, **options)
        async for record in page.auto_paging_aiter():
            yield record

    async def list_sync_runs(
        self,
        patient_id: str,
        connection_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ListPage[SyncRun]:
        """``GET /patients/{id}/connections/{conn_id}/sync-runs`` (ehrconnect extension)."""
        params = page_params(limit=limit, starting_after=starting_after)
        route = _routes.patient_connection(patient_id, connection_id, "/sync-runs")
        return await self._client._get_page(route, ListPage[SyncRun], params, options)

    async def request_sync(
        self,
        patient_id: str,
        connection_id: str,
        *,
        idempotency_key: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> SyncRequested:
        """``POST /patients/{id}/connections/{conn_id}/sync``: queue a pull of an active connection
        now; see :meth:`Patients.request_sync`."""
        route = _routes.patient_connection(patient_id, connection_id, "/sync")
        return await self._client._request(
            "POST", route, SyncRequested, body={}, idempotency_key=idempotency_key, options=options
        )
