"""Who is calling: the address per-client limits count against, and which X-Forwarded-For to believe.

X-Forwarded-For is written by whoever sent the request, so only the hops added by proxies we
trust are believed: the header counts only when the peer is a trusted proxy, and then the
client is the nearest hop, reading from the right, that is not a trusted proxy itself. (The
leftmost hop is whatever the caller claimed.) Envoy's `/graphql` route replaces the header with
the address of its own peer, so through Envoy the header holds exactly one true hop.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The calling client's address, as far as it can be trusted."""
        if peer is None:
            return "unknown"
        forwarded = headers.get("x-forwarded-for")
        if peer not in self or not forwarded:
            return peer
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0] if hops else peer
