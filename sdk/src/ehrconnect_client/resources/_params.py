"""Request bodies and query strings shared by the sync and async resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Remove keys whose value is ``None`` (the server treats absent and null alike)."""
    return {k: v for k, v in values.items() if v is not None}


def page_params(*, limit: int | None, starting_after: str | None, **filters: Any) -> dict[str, Any]:
    """Query of a cursor-paginated list: page size, cursor, then the endpoint's filters."""
    return drop_none({"limit": limit, "starting_after": starting_after, **filters})


def patient_list_params(
    *, limit: int | None, starting_after: str | None, patient_id: str | None, email: str | None
) -> dict[str, Any]:
    """Query of ``GET /patients`` (``patient_id`` and ``email`` are exact filters)."""
    return page_params(limit=limit, starting_after=starting_after, patient_id=patient_id, email=email)


def session_list_params(*, limit: int | None, starting_after: str | None, status: str | None) -> dict[str, Any]:
    """Query of ``GET /patients/{id}/sessions``."""
    return page_params(limit=limit, starting_after=starting_after, status=status)


def source_list_params(
    *, q: str | None, type: str | None, limit: int | None, starting_after: str | None
) -> dict[str, Any]:
    """Query of ``GET /connections`` (the catalog search)."""
    return drop_none({"q": q, "type": type, "limit": limit, "starting_after": starting_after})


def format_since(since: str | date | datetime | None) -> str | None:
    """Render ``since`` for ``GET /patients/{id}/records`` (ISO 8601 date or date-time).

    Naive datetimes are refused: the server compares in UTC and guessing a zone would move the
    window silently.
    """
    if since is None or isinstance(since, str):
        return since
    if isinstance(since, datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("since must be timezone-aware (e.g. datetime.now(timezone.utc))")
        utc = since.astimezone(UTC)
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return since.isoformat()


def format_types(types: str | Sequence[str] | None) -> str | None:
    """Join FHIR resource types into the comma list the API expects."""
    if types is None or isinstance(types, str):
        return types
    items = [t.strip() for t in types if t.strip()]
    if any("," in t for t in items):
        raise ValueError("resource types must not contain commas")
    return ",".join(items) or None


def patient_body(
    patient_id: str,
    *,
    email: str | None,
    name: str | None,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Body of ``POST /patients`` and ``PUT /patients/{id}``."""
    return drop_none(
        {
            "patient_id": patient_id,
            "email": email,
            "name": name,
            "metadata": dict(metadata) if metadata is not None else None,
        }
    )


def session_body(
    *,
    patient_id: str,
    return_url: str,
    patient_email: str | None,
    patient_name: str | None,
    connection_id: str | None,
    recommended_connection_ids: Sequence[str] | None,
    return_button_label: str | None,
    expires_in: int | None,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Body of ``POST /sessions``."""
    return drop_none(
        {
            "patient_id": patient_id,
            "return_url": return_url,
            "patient_email": patient_email,
            "patient_name": patient_name,
            "connection_id": connection_id,
            "recommended_connection_ids": (
                list(recommended_connection_ids) if recommended_connection_ids is not None else None
            ),
            "return_button_label": return_button_label,
            "expires_in": expires_in,
            "metadata": dict(metadata) if metadata is not None else None,
        }
    )


def records_params(
    *,
    types: str | Sequence[str] | None,
    since: str | date | datetime | None,
    count: int | None,
    starting_after: str | None,
    ending_before: str | None,
) -> dict[str, Any]:
    """Query of ``GET /patients/{id}/records``."""
    return drop_none(
        {
            "type": format_types(types),
            "since": format_since(since),
            "count": count,
            "starting_after": starting_after,
            "ending_before": ending_before,
        }
    )
