"""A local OIDC issuer for the auth tests: discovery and JWKS on loopback, tokens minted here.

It counts the requests it answers and can be held (its handlers block on an event the test
controls) or made to fail, so tests observe a slow or broken issuer through counts and ordering,
never through timing.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import free_port

AUDIENCE = "throttling-sequencer"
USER = "player-1"
DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks"
#: How long a test waits for the issuer to see a request before failing with a clear message.
SEEN_WITHIN_SECONDS = 20.0

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Issuer:
    """Discovery at /.well-known/openid-configuration, keys at /jwks."""

    port: int = field(default_factory=free_port)
    keys: dict[str, PrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    #: Answer 503 to discovery and JWKS requests while set.
    failing: bool = False
    #: Requests answered (or being answered), by path.
    seen: Counter[str] = field(default_factory=Counter)
    _open: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._open.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_key(self, kid: str, publish: bool = True, kind: str = "RSA") -> None:
        if kind == "RSA":
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid in self.published:
            key = self.keys[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                out.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256"})
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
                out.append(jwk | {"kid": kid, "use": "sig", "alg": "ES256"})
        return {"keys": out}

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": USER, "iat": now, "exp": now + 300} | claims
        key = self.keys[kid]
        algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})

    def hold(self) -> None:
        """From now on, discovery and JWKS requests block until `release()`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_seen(self, path: str, count: int) -> None:
        """Block until the issuer has received `count` requests for `path` (a readiness wait)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.seen[path] >= count, SEEN_WITHIN_SECONDS):
                raise TimeoutError(
                    f"the issuer saw {self.seen[path]} request(s) for {path} within "
                    f"{SEEN_WITHIN_SECONDS} s, expected {count}"
                )

    def serve(self) -> Issuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path not in (DISCOVERY, JWKS):
                    self.send_error(404)
                    return
                with issuer._changed:
                    issuer.seen[self.path] += 1
                    issuer._changed.notify_all()
                issuer._open.wait()
                if issuer.failing:
                    self.send_error(503)
                    return
                if self.path == DISCOVERY:
                    body: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}{JWKS}"}
                else:
                    body = issuer.jwks()
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()  # held handlers finish
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying a token (none for None; a value with a space is sent as is)."""
    if token is None:
        return ()
    return (("authorization", token if " " in token else f"Bearer {token}"),)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signature(issuer: Issuer, kid: str, signing_input: str) -> str:
    """`signing_input` signed by the issuer's key `kid`, with the algorithm of the key's own type."""
    key = issuer.keys[kid]
    if isinstance(key, rsa.RSAPrivateKey):
        signed = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
            signing_input.encode(), key
        )
    else:
        signed = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).sign(
            signing_input.encode(), key
        )
    return b64(signed)


def forged(issuer: Issuer, signing_kid: str, header: dict[str, Any] | str, **claims: Any) -> str:
    """A token with exactly this header (a dict, or raw JSON text), signed by the issuer's key
    `signing_kid` whatever the header says."""
    now = int(time.time())
    body = {"iss": issuer.url, "aud": AUDIENCE, "sub": USER, "iat": now, "exp": now + 300} | claims
    raw_header = header if isinstance(header, str) else json.dumps(header)
    signing_input = f"{b64(raw_header.encode())}.{b64(json.dumps(body).encode())}"
    return f"{signing_input}.{signature(issuer, signing_kid, signing_input)}"
