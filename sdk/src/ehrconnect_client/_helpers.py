"""Small conveniences over returned objects."""

from __future__ import annotations

from typing import overload

from ._models import PatientConnection, PatientDetail, Session, SessionConnection

__all__ = ["ACTIVE", "active_connections"]

ACTIVE = "active"


@overload
def active_connections(obj: Session) -> list[SessionConnection]: ...
@overload
def active_connections(obj: PatientDetail) -> list[PatientConnection]: ...
def active_connections(obj: Session | PatientDetail) -> list[SessionConnection] | list[PatientConnection]:
    """The connections of a session or patient whose status is ``active``, in server order.

    After the patient returns, a non-empty result from ``sessions.retrieve(...)`` is the real
    success signal (a ``complete`` session only means the browser flow ended).
    """
    if isinstance(obj, Session):
        return [c for c in obj.connections if c.status == ACTIVE and c.id is not None]
    if isinstance(obj, PatientDetail):
        return [c for c in obj.connections if c.status == ACTIVE]
    raise TypeError(f"expected Session or PatientDetail, got {type(obj).__name__}")
