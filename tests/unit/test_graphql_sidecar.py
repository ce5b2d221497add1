"""The sidecar's rules as pure functions (the refusals themselves are exercised through the real
sidecar in tests/integration/test_graphql_limits.py)."""

from __future__ import annotations

import pytest

from bridge.graphql.clients import TrustedProxies


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # an untrusted peer's header is ignored
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the caller's own claim is left of ours
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),  # trusted hops are skipped
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
    ],
)
def test_the_client_is_the_nearest_untrusted_hop(peer: str, forwarded: str, client: str) -> None:
    proxies = TrustedProxies(["127.0.0.1", "::1"])
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    assert proxies.client(peer, headers) == client
