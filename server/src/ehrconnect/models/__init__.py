"""SQLAlchemy ORM models, one module per table group. Importing this registers them all."""

from ehrconnect.models.base import Base
from ehrconnect.models.catalog import FhirSource, FhirSourceName
from ehrconnect.models.connections import Connection, OAuthClientRegistration, OAuthState
from ehrconnect.models.idempotency import IdempotencyRecord
from ehrconnect.models.jobs import Job
from ehrconnect.models.patients import Patient
from ehrconnect.models.records import Record, SyncRun
from ehrconnect.models.sessions import ConnectSession
from ehrconnect.models.tenancy import ApiKey, Organization

__all__ = [
    "ApiKey",
    "Base",
    "ConnectSession",
    "Connection",
    "FhirSource",
    "FhirSourceName",
    "IdempotencyRecord",
    "Job",
    "OAuthClientRegistration",
    "OAuthState",
    "Organization",
    "Patient",
    "Record",
    "SyncRun",
]
