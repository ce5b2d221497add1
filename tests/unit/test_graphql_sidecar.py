"""The sidecar's rules as pure functions (the refusals themselves are exercised through the real
sidecar in tests/integration/test_graphql_limits.py)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from bridge.graphql.clients import TrustedProxies
from bridge.graphql.cost import check
from bridge.graphql.settings import GraphQLSettings

STATE = "{playerUnits: [], enemyUnits: []}"
SETTINGS = GraphQLSettings(max_cost=100, max_entities=100)


def cost_errors(document: str, variables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [dict(e.extensions or {}) for e in check(parse(document), variables or {}, SETTINGS)]


def test_a_plan_costs_ten_plus_a_unit_per_second_of_budget() -> None:
    one = f"plan(gameStateInput: {STATE}, options: {{timeBudgetMs: 60000}}) {{ id }}"
    assert cost_errors(f"mutation {{ {one} }}") == []  # 70
    assert cost_errors(f"mutation {{ a: {one} b: {one} }}")[0]["cost"] == 140
    default = f"calculateThrottleSteps(gameStateInput: {STATE}) {{ throttle }}"
    assert cost_errors("{ " + " ".join(f"p{n}: {default}" for n in range(9)) + " }") == []  # 99
    assert cost_errors("{ " + " ".join(f"p{n}: {default}" for n in range(10)) + " }")[0]["cost"] == 110


def test_fragments_count_once_per_spread_and_variables_with_their_defaults() -> None:
    document = f"""mutation($o: PlannerOptionsInput = {{timeBudgetMs: 30000}}) {{
          ...P ...P ... on Mutation {{ ...P }}
        }}
        fragment P on Mutation {{ plan(gameStateInput: {STATE}, options: $o) {{ id }} }}"""
    assert cost_errors(document)[0]["cost"] == 3 * 40
    assert cost_errors(document, {"o": {"timeBudgetMs": 1000}}) == []  # 3 * 11


def test_entities_count_each_representation_and_are_capped() -> None:
    query = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
    many = [{"__typename": "PlanType", "id": "x"}] * 101
    assert cost_errors(query, {"r": many[:100]}) == []
    assert cost_errors(query, {"r": many}) == [{"code": "BAD_USER_INPUT"}]


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
