"""Python client for the ehrconnect API (wire-compatible with the Medblocks Platform API).

>>> from ehrconnect_client import Client
>>> with Client() as client:  # reads EHRCONNECT_API_KEY / EHRCONNECT_API_URL
...     session = client.sessions.create(patient_id="user_42", return_url="https://app.example/back")
"""

from ._base import RequestOptions
from ._client import AsyncClient, Client
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIServerError,
    APITimeoutError,
    AuthenticationError,
    BillingError,
    ConfigurationError,
    ConflictError,
    EhrconnectError,
    EHRError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ReturnURLError,
)
from ._helpers import active_connections
from ._models import (
    DeletedPatient,
    DisconnectedConnection,
    EhrconnectObject,
    FhirSource,
    Health,
    Patient,
    PatientConnection,
    PatientDetail,
    Record,
    RecordsPage,
    Session,
    SessionConnection,
    SyncRequested,
    SyncRun,
)
from ._pagination import ListPage
from ._response import ResponseInfo
from ._retry import RetryPolicy
from ._return_url import RETURN_ERROR_CODES, ReturnParams, parse_return_url
from ._version import DEFAULT_API_VERSION, __version__

__all__ = [
    "DEFAULT_API_VERSION",
    "RETURN_ERROR_CODES",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIServerError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BillingError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "DeletedPatient",
    "DisconnectedConnection",
    "EHRError",
    "EhrconnectError",
    "EhrconnectObject",
    "FhirSource",
    "Health",
    "InvalidRequestError",
    "ListPage",
    "NotFoundError",
    "Patient",
    "PatientConnection",
    "PatientDetail",
    "PermissionDeniedError",
    "RateLimitError",
    "Record",
    "RecordsPage",
    "RequestOptions",
    "ResponseInfo",
    "RetryPolicy",
    "ReturnParams",
    "ReturnURLError",
    "Session",
    "SessionConnection",
    "SyncRequested",
    "SyncRun",
    "__version__",
    "active_connections",
    "parse_return_url",
]
