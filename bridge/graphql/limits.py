"""The limits every document meets before a resolver runs: size, depth, aliases, tokens and cost;
subscriptions only over a websocket.

Hostile documents are refused in parsing and validation. The cost rules and the fragment-aware
size check live in cost.py; the caps on open subscriptions in subscriptions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)

from bridge.graphql.cost import DocumentCost, DocumentSize
from bridge.graphql.subscriptions import WebSocketOnly

MAX_DEPTH: Final = 12
MAX_ALIASES: Final = 30
#: Also the most fields fragments may expand a document to: no more than could be written out.
MAX_TOKENS: Final = 4_000

#: Parsed documents remembered by their text (a bounded LRU, as DocumentCost's valid ones).
PARSED_DOCUMENTS: Final = 64
#: The depth and alias limits' validation rules, made once: the same rule classes for every
#: request, so a document that passed them once is known to pass (cost.validated).
DOCUMENT_RULES: Final = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


class DocumentLimits(AddValidationRules):
    """Depth and aliases, checked in validation."""

    def __init__(self) -> None:
        super().__init__(list(DOCUMENT_RULES))


#: The schema's extensions, in the order they check a document.
EXTENSIONS: Final[list[type[SchemaExtension] | Callable[[], SchemaExtension]]] = [
    lambda: ParserCache(maxsize=PARSED_DOCUMENTS),
    lambda: DocumentSize(max_fields=MAX_TOKENS),
    DocumentLimits,
    lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    DocumentCost,
    WebSocketOnly,
]
