"""The RSA key that signs id_tokens (RS256), and the JWKS that publishes it (OIDC Core §10.1)."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


class SigningKey:
    """An RSA signing key, generated at startup unless a PEM is given."""

    def __init__(self, pem: str | None = None) -> None:
        self._key = RSAKey.import_key(pem) if pem else RSAKey.generate_key(2048, private=True)
        self.kid = self._key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set."""
        public = dict(self._key.as_dict(private=False))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [public]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS over ``claims`` (RS256, with ``kid``)."""
        return jwt.encode({"alg": "RS256", "kid": self.kid, "typ": "JWT"}, claims, self._key)

    def id_token(
        self,
        *,
        issuer: str,
        subject: str,
        audience: str,
        lifetime: int,
        fhir_user: str | None,
        nonce: str | None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """An OpenID Connect id_token (OIDC Core §2) with SMART's ``fhirUser`` claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
        }
        if fhir_user:
            claims["fhirUser"] = fhir_user
        if nonce:
            claims["nonce"] = nonce
        claims.update(extra or {})
        return self.sign(claims)
