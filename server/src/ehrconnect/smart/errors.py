"""Typed errors raised by the SMART client.

Every message is built from non-secret facts only (status codes, OAuth error codes, URL origins).
Token values, authorization codes, PKCE verifiers and client secrets never appear in ``str()`` or
``repr()`` of these exceptions: callers log them freely.
"""

from __future__ import annotations

__all__ = [
    "INVALID_ERROR_RESPONSE",
    "INVALID_TOKEN_RESPONSE",
    "EndpointNotAdvertised",
    "FhirError",
    "Forbidden",
    "IntrospectionError",
    "InvalidFhirResponse",
    "OAuthError",
    "OriginViolation",
    "PkceNotSupported",
    "RateLimited",
    "ResourceNotFound",
    "SmartDiscoveryError",
    "SmartError",
    "SourceUnavailable",
    "TokenExchangeError",
    "TokenRefreshError",
    "TokenRevocationError",
    "Unauthorized",
]

# Client-side error codes used in ``OAuthError.error`` when the server did not supply one.
INVALID_TOKEN_RESPONSE = "invalid_token_response"
"""A 2xx token response that fails validation (missing access_token, wrong token_type, ...)."""
INVALID_ERROR_RESPONSE = "invalid_error_response"
"""A non-2xx token-endpoint response without a parseable RFC 6749 §5.2 error object."""


class SmartError(Exception):
    """Base class of every error raised by ``ehrconnect.smart``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class SmartDiscoveryError(SmartError):
    """The server's SMART configuration could not be discovered or is unusable.

    Raised when neither ``.well-known/smart-configuration`` nor the CapabilityStatement
    ``oauth-uris`` extension yields usable endpoints (SMART App Launch 2.x, Conformance).
    """

    def __init__(self, message: str, *, url: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class PkceNotSupported(SmartDiscoveryError):
    """The server advertises ``code_challenge_methods_supported`` without ``S256``.

    SMART App Launch 2.x requires S256 PKCE; we refuse to fall back to ``plain`` or no PKCE.
    """


class EndpointNotAdvertised(SmartError):
    """An optional endpoint (revocation, introspection) is not advertised by the server."""


class SourceUnavailable(SmartError):
    """The source is unreachable or failing: network error, timeout, or HTTP 5xx.

    Transient by nature: retry later rather than treating the grant or connection as broken.
    """

    def __init__(self, message: str, *, status_code: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url


class RateLimited(SourceUnavailable):
    """HTTP 429 from the source. ``retry_after`` is in seconds (None when not given).

    Subclass of :class:`SourceUnavailable` so generic "retry later" handling covers it; catch it
    first to honour ``retry_after`` precisely.
    """

    def __init__(self, message: str, *, retry_after: float | None, url: str | None = None) -> None:
        super().__init__(message, status_code=429, url=url)
        self.retry_after = retry_after


class OriginViolation(SmartError):
    """A URL outside the connection's FHIR base (origin + path prefix) was about to receive a token.

    The request is never sent. ``url`` holds only scheme, host, port and path of the offending URL.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class OAuthError(SmartError):
    """An OAuth endpoint answered with an error (RFC 6749 §5.2) or an invalid response.

    ``error`` is the RFC 6749 error code (``invalid_grant``, ...) or one of our client-side codes
    :data:`INVALID_TOKEN_RESPONSE` / :data:`INVALID_ERROR_RESPONSE`.
    """

    operation = "OAuth request"

    def __init__(
        self,
        error: str,
        *,
        error_description: str | None = None,
        error_uri: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.status_code = status_code
        parts = [f"{self.operation} failed: {error}"]
        if status_code is not None:
            parts.append(f"(HTTP {status_code})")
        if error_description:
            parts.append(f"- {error_description}")
        super().__init__(" ".join(parts))

    @property
    def is_invalid_grant(self) -> bool:
        """True when the grant (code or refresh token) is invalid, expired or revoked (§5.2)."""
        return self.error == "invalid_grant"

    @property
    def is_invalid_response(self) -> bool:
        """True when the failure was detected client-side (malformed or non-conforming response)."""
        return self.error in (INVALID_TOKEN_RESPONSE, INVALID_ERROR_RESPONSE)


class TokenExchangeError(OAuthError):
    """The authorization_code grant failed (RFC 6749 §4.1.3 / §5.2) or returned an invalid token."""

    operation = "Token exchange"


class TokenRefreshError(OAuthError):
    """The refresh_token grant failed (RFC 6749 §6). ``is_invalid_grant`` means re-authorize."""

    operation = "Token refresh"


class TokenRevocationError(OAuthError):
    """The revocation endpoint answered with an error (RFC 7009 §2.2.1)."""

    operation = "Token revocation"


class IntrospectionError(OAuthError):
    """The introspection endpoint answered with an error or a malformed response (RFC 7662 §2.3)."""

    operation = "Token introspection"


class FhirError(SmartError):
    """A FHIR request failed with a non-transient HTTP status or an unusable body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        url: str | None = None,
        issue_codes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url
        # OperationOutcome.issue.code values only: diagnostics text may carry PHI, so it is not kept.
        self.issue_codes = issue_codes


class Unauthorized(FhirError):
    """HTTP 401 from the FHIR server: the access token is expired or revoked; refresh and retry.

    ``url`` is the full URL that failed (including its query), so pagination can resume from it
    with :meth:`FhirSession.follow_pages`. Do not log ``url``: queries may contain identifiers.
    """


class Forbidden(FhirError):
    """HTTP 403 from the FHIR server: the granted scopes do not cover this request."""


class ResourceNotFound(FhirError):
    """HTTP 404 or 410 from the FHIR server."""


class InvalidFhirResponse(FhirError):
    """The FHIR server answered 2xx with a body that is not the expected FHIR JSON."""
