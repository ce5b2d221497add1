"""The limits every document meets before a resolver runs: size, depth, aliases, tokens and cost;
subscriptions only over a websocket.

Hostile documents are refused in parsing and validation. The cost rules and the fragment-aware
size check live in cost.py; the caps on open subscriptions in subscriptions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension

from bridge.graphql.cost import DocumentCost, DocumentSize
from bridge.graphql.subscriptions import WebSocketOnly

MAX_DEPTH: Final = 12
MAX_ALIASES: Final = 30
#: Also the most fields fragments may expand a document to: no more than could be written out.
MAX_TOKENS: Final = 4_000

#: The schema's extensions, in the order they check a document.
EXTENSIONS: Final[list[type[SchemaExtension] | Callable[[], SchemaExtension]]] = [
    lambda: DocumentSize(max_fields=MAX_TOKENS),
    lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
    lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    DocumentCost,
    WebSocketOnly,
]
