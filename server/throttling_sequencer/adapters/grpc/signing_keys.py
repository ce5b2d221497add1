"""The token issuer's signing keys, cached so that a slow or failing issuer never stalls requests.

No lock is held across I/O. One fetch runs at a time, in its own thread (single-flight); requests
whose key is cached never wait for it, not even when the cache has expired (the refresh runs in
the background and the last good keys keep serving). Only a request naming a key we do not have
waits, on the fetch in progress or on one it starts. A failed fetch is remembered for
`failure_ttl` seconds (a negative cache), so a burst of requests against a broken issuer makes one
upstream request, not one each; and unknown key ids refetch at most every `refresh_cooldown`
seconds, so a flood of made-up kids cannot make us hammer the issuer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future

from jwt import PyJWK
from loguru import logger

from throttling_sequencer.adapters.grpc.errors import Unauthenticated

#: Fetches the issuer's keys by id; raises on any failure (blocking I/O, run in a fetch thread).
Fetch = Callable[[], Mapping[str, PyJWK]]


class SigningKeys:
    def __init__(
        self,
        fetch: Fetch,
        lifespan: float = 300.0,
        failure_ttl: float = 5.0,
        refresh_cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._lifespan = lifespan
        self._failure_ttl = failure_ttl
        self._refresh_cooldown = refresh_cooldown
        self._clock = clock
        # Guards the fields below; held for a few field reads and writes only, never across I/O.
        self._lock = threading.Lock()
        self._keys: Mapping[str, PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._failed_at: float | None = None  # last failed fetch, if none succeeded since
        self._failure = ""
        self._in_flight: Future[None] | None = None

    async def get(self, kid: str) -> PyJWK:
        """The key named `kid`; raises Unauthenticated if the issuer does not publish it."""
        waited = False
        while True:
            with self._lock:
                now = self._clock()
                key = self._keys.get(kid)
                if key is not None:
                    if not waited and self._expired(now) and not self._failed_recently(now):
                        self._start_fetch()  # in the background: this request goes on with `key`
                    return key
                if waited or (self._in_flight is None and not self._may_fetch_for_unknown(now)):
                    raise self._missing(kid, now)
                fetch = self._start_fetch()
            # The fetch never fails (it records its outcome), and is never cancelled: a caller
            # that goes away stops waiting, the fetch goes on for the others.
            await asyncio.wrap_future(fetch)
            waited = True

    def _expired(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at >= self._lifespan

    def _failed_recently(self, now: float) -> bool:
        return self._failed_at is not None and now - self._failed_at < self._failure_ttl

    def _may_fetch_for_unknown(self, now: float) -> bool:
        if self._failed_recently(now):
            return False
        return self._fetched_at is None or now - self._fetched_at >= self._refresh_cooldown

    def _missing(self, kid: str, now: float) -> Unauthenticated:
        if self._fetched_at is None and self._failed_at is not None:
            retry = max(0.0, self._failure_ttl - (now - self._failed_at))
            return Unauthenticated(
                f"the token issuer's keys cannot be fetched ({self._failure}); retrying in {retry:.0f} s",
                reason=self._failure,
            )
        return Unauthenticated(f"invalid token: the issuer publishes no key with id {kid!r}", reason="kid")

    def _start_fetch(self) -> Future[None]:
        """The fetch in progress, or a new one (call with the lock held)."""
        if self._in_flight is None:
            done: Future[None] = Future()
            done.set_running_or_notify_cancel()  # from now on nobody can cancel it
            self._in_flight = done
            threading.Thread(target=self._run_fetch, args=(done,), name="jwks-fetch", daemon=True).start()
        return self._in_flight

    def _run_fetch(self, done: Future[None]) -> None:
        keys: Mapping[str, PyJWK] | None = None
        failure = ""
        try:
            keys = self._fetch()
            if not keys:
                failure = "the issuer publishes no signing keys"
        except Exception as error:  # a fetch thread must record any fault, or its waiters would hang
            failure = str(error) or type(error).__name__
        finally:
            with self._lock:
                now = self._clock()
                if keys:
                    self._keys, self._fetched_at, self._failed_at = keys, now, None
                else:
                    self._failed_at, self._failure = now, failure
                self._in_flight = None
            done.set_result(None)
        if keys:
            logger.info("issuer keys fetched", kids=sorted(keys))
        else:
            logger.warning(
                "issuer keys not fetched; serving the last good keys", error=failure, known=len(self._keys)
            )
