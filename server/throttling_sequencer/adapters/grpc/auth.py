"""Bearer-token authentication: JWTs checked against the issuer's published keys (JWKS).

Checks the signature with a key from the issuer's JWKS (found by OIDC discovery unless a JWKS
URL is given, cached, re-fetched when a token names an unknown `kid` so key rotation works),
an allow-list of asymmetric algorithms (so `alg: none` and HS256-signed-with-the-public-key
tokens fail), `exp`/`nbf` with a little clock skew, the issuer and the audience. The token's
`sub` becomes the caller's user id.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import jwt

from throttling_sequencer.domain.errors import Unauthenticated

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass
class Authenticator:
    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: float = 30.0
    jwks_url: str = ""
    #: Seconds between forced JWKS refreshes for unknown key ids (a flood of bad kids cannot
    #: make us hammer the issuer).
    refresh_cooldown: float = 10.0
    _client: jwt.PyJWKClient | None = field(default=None, init=False, repr=False)
    _lock: Lock = field(default_factory=Lock, init=False, repr=False)

    def user_of(self, authorization: str | None) -> str:
        """The user id in a valid `Bearer` token; raises Unauthenticated otherwise. Blocking I/O."""
        if not authorization:
            raise Unauthenticated("missing bearer token (authorization: Bearer <JWT>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization header must be 'Bearer <JWT>'")
        try:
            key = self._keys().get_signing_key_from_jwt(token.strip())
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                key.key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise Unauthenticated("the token issuer's keys cannot be fetched", reason=str(error)) from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as error:
            raise Unauthenticated(f"invalid token: {error}", reason=type(error).__name__) from None
        return str(claims["sub"])

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self.jwks_url or _discover_jwks(self.issuer)
                self._client = jwt.PyJWKClient(
                    url, lifespan=300, cooldown_duration=self.refresh_cooldown, timeout=5
                )
            return self._client


def _discover_jwks(issuer: str) -> str:
    try:
        with urllib.request.urlopen(issuer.rstrip("/") + DISCOVERY_PATH, timeout=5) as response:
            document = json.load(response)
        return str(document["jwks_uri"])
    except (OSError, ValueError, KeyError) as error:
        raise Unauthenticated("the token issuer cannot be discovered", reason=str(error)) from None
