"""Bearer-token authentication: JWTs checked against the issuer's published keys (JWKS).

Checks the signature with a key from the issuer's JWKS (found by OIDC discovery unless a JWKS
URL is given; cached, refreshed in the background, re-fetched when a token names an unknown `kid`
so key rotation works: see signing_keys.py), an allow-list of asymmetric algorithms (so `alg: none`
and HS256-signed-with-the-public-key tokens fail) that must also match the named key's own
algorithm, `exp`/`nbf` with a little clock skew, the issuer and the audience. Everything read
from the token before its signature is checked is type-checked and bounded. The token's `sub`
becomes the caller's user id; a configurable role claim makes the caller an administrator.
"""

from __future__ import annotations

import json
import unicodedata
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from throttling_sequencer.adapters.grpc.errors import Unauthenticated
from throttling_sequencer.adapters.grpc.signing_keys import SigningKeys
from throttling_sequencer.request_context import MAX_USER_ID_LENGTH

DISCOVERY_PATH = "/.well-known/openid-configuration"
#: Longest bearer token accepted, in characters (Keycloak's access tokens are 1-3 KB).
MAX_TOKEN_LENGTH = 8_192
#: Largest discovery document or JWKS read from the issuer.
MAX_ISSUER_DOCUMENT_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a valid token says the caller is."""

    user_id: str
    #: Holds the administrator role: may read every user's plans.
    admin: bool = False


@dataclass
class IssuerKeys:
    """Fetches the issuer's signing keys by id: SigningKeys' fetch (blocking; raises on failure).

    The JWKS URL is found by OIDC discovery unless given, once.
    """

    issuer: str
    jwks_url: str = ""
    #: Seconds one discovery or JWKS request may take.
    timeout: float = 5.0
    _discovered_jwks_url: str = field(default="", init=False, repr=False)

    def __call__(self) -> dict[str, jwt.PyJWK]:
        url = self.jwks_url or self._discovered_jwks_url
        if not url:
            document = _get_json(self.issuer.rstrip("/") + DISCOVERY_PATH, self.timeout)
            discovered = document.get("jwks_uri")
            if not isinstance(discovered, str) or not discovered.startswith(("https://", "http://")):
                raise ValueError("the discovery document has no http(s) jwks_uri")
            url = self._discovered_jwks_url = discovered
        keys = jwt.PyJWKSet.from_dict(_get_json(url, self.timeout)).keys
        return {k.key_id: k for k in keys if k.key_id and k.public_key_use in ("sig", None)}


@dataclass
class Authenticator:
    #: The issuer's keys (an IssuerKeys fetch behind the SigningKeys cache).
    keys: SigningKeys
    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: float = 30.0
    #: The role that makes a caller an administrator; empty: nobody is.
    admin_role: str = "throttling-admin"
    #: Dotted path to the token's list of roles (Keycloak: realm_access.roles).
    roles_claim: str = "realm_access.roles"

    async def authenticate(self, authorization: str | None) -> Caller:
        """The caller a valid `Bearer` token names; raises Unauthenticated otherwise.

        Waits on the issuer only when the token names a key that is not cached yet.
        """
        token = _bearer_token(authorization)
        algorithm, kid = self._algorithm_and_kid(token)
        key = await self.keys.get(kid)
        if key.algorithm_name != algorithm:
            raise Unauthenticated(
                f"invalid token: its header says {algorithm} but key {kid!r} is for {key.algorithm_name}",
                reason="alg",
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"invalid token: {error}", reason=type(error).__name__) from None
        return Caller(user_id=_user_id(claims), admin=self._is_admin(claims))

    def _algorithm_and_kid(self, token: str) -> tuple[str, str]:
        """The header's `alg` (one we accept) and `kid`, type-checked before anything uses them."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"invalid token: {error}", reason=type(error).__name__) from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise Unauthenticated(
                f"invalid token: the algorithm must be one of {', '.join(self.algorithms)}", reason="alg"
            )
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("invalid token: the header must name its key (kid)", reason="kid")
        return algorithm, kid

    def _is_admin(self, claims: Mapping[str, Any]) -> bool:
        if not self.admin_role:
            return False
        roles: Any = claims
        for name in self.roles_claim.split("."):
            roles = roles.get(name) if isinstance(roles, Mapping) else None
        if isinstance(roles, str):  # a space-separated list, like OAuth's `scope`
            roles = roles.split()
        return isinstance(roles, list) and self.admin_role in roles


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing bearer token (authorization: Bearer <JWT>)")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the authorization header must be 'Bearer <JWT>'")
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated(f"invalid token: longer than {MAX_TOKEN_LENGTH} characters", reason="length")
    return token


def _user_id(claims: Mapping[str, Any]) -> str:
    """The token's subject, refused unless the plans' user_id column can hold it as it is."""
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("invalid token: the subject (sub) must be a non-empty string", reason="sub")
    if len(subject) > MAX_USER_ID_LENGTH:
        raise Unauthenticated(
            f"invalid token: the subject (sub) is {len(subject)} characters long; "
            f"at most {MAX_USER_ID_LENGTH} are accepted",
            reason="sub",
        )
    if any(unicodedata.category(c) == "Cc" for c in subject):
        raise Unauthenticated("invalid token: the subject (sub) contains control characters", reason="sub")
    return subject


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read(MAX_ISSUER_DOCUMENT_BYTES + 1)
    if len(body) > MAX_ISSUER_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_ISSUER_DOCUMENT_BYTES} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document
