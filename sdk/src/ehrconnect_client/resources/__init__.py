"""Resource groups of the API, one module each."""

from .connections import AsyncConnections, Connections
from .patients import AsyncPatients, Patients
from .sessions import AsyncSessions, Sessions

__all__ = ["AsyncConnections", "AsyncPatients", "AsyncSessions", "Connections", "Patients", "Sessions"]
