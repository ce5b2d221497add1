"""What a document will cost the server, counted before anything runs, and the refusal when too much.

Envoy's rate limit counts requests, and one request can hold many aliased fields, so the sidecar
counts every field occurrence that calls the server (through aliases and fragments) and every
`_entities` representation (each must be `{__typename: "PlanType", id: ...}`, else BAD_USER_INPUT):

- a lookup (`plan`, `plans`, each `_entities` representation) costs LOOKUP_COST (1);
- a plan (`calculateThrottleSteps`, mutation `plan`, `generateSteps`, `planProgress`) costs
  PLANNING_COST (10) plus 1 per started second of its time budget (unset: the server's 1 s);
- a batch (`planBatch`) costs PLANNING_COST plus 1 per started second of its units' budgets
  together (its assignments, or its player units when it has none): 80 default units cost 90,
  1,000 units with `timeBudgetMs: 50` cost 60.

A document over `max_cost` (100: one 60 s plan is 70, nine default plans 99) is refused in
validation with `extensions.code` COST_ESTIMATED_TOO_EXPENSIVE and its `cost` and `maxCost`.

The answer's size is bounded too, because turning it into JSON takes the sidecar's one event
loop (about 70 us per goal: a page of 100 plans of 1,000 goals held every other caller up for
7 s, and 30 aliases of it for minutes, at a cost of 30). Each `goals` list counts as the most a
plan holds (max_ticks' bound, 1,000), multiplied by the plans `plans(first:)` (20 unset) or
`_entities` may return; a document whose answer may hold more than `max_result_goals` goals
(20,000: a default page of plans with their goals) is refused with the same code, its `goals`
and `maxGoals`; a batch's
`goals` count as many per unit as its `maxTicks` allows (unset: the server's 100). An
`_entities` field with more than `max_entities` (100) representations is refused as
BAD_USER_INPUT. Neither reaches a resolver. `@skip`/`@include` are not evaluated: a field counts
even if a directive would drop it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from bridge.graphql.settings import GraphQLSettings
from throttling_sequencer.domain.config import BOUNDS, PlannerConfig

LOOKUP_COST = 1
PLANNING_COST = 10
#: The server's default time budget, assumed when a plan does not set one.
DEFAULT_BUDGET_MS = 1_000
CODE = "COST_ESTIMATED_TOO_EXPENSIVE"
#: Levels of fields, fragments and inline fragments a document may nest (fields alone: 12).
MAX_NESTING = 64

ROOTS = {
    OperationType.QUERY: "Query",
    OperationType.MUTATION: "Mutation",
    OperationType.SUBSCRIPTION: "Subscription",
}
LOOKUPS = {("Query", "plan"), ("Query", "plans")}
PLANNERS = {
    ("Query", "calculateThrottleSteps"),
    ("Mutation", "plan"),
    ("Subscription", "generateSteps"),
    ("Subscription", "planProgress"),
}
BATCH = ("Mutation", "planBatch")
ENTITIES = ("Query", "_entities")
#: Entity types `_entities` resolves, all keyed by `id`.
ENTITY_TYPES = {"PlanType"}
PAGE = ("Query", "plans")
GOAL_LISTS = {("Query", "calculateThrottleSteps")}
#: The most goals a plan holds: one per tick.
MAX_GOALS_PER_PLAN = int(BOUNDS["max_ticks"][1])
#: Plans a `plans` page holds when `first` is unset (the server's default page size).
DEFAULT_PAGE_SIZE = 20
#: The most ticks a plan has when `maxTicks` is unset (the server's default).
DEFAULT_MAX_TICKS = int(PlannerConfig().max_ticks)


class DocumentSize(SchemaExtension):
    """Refuses, before validation, documents whose fragments expand them past what could be written out.

    Spreading a fragment twice in each of 30 nested fragments makes a 600-token document of 2^30
    fields, and Strawberry's depth and alias limiters expand fragments without memory (20 levels
    took 5 s of CPU); a long chain of fragments overflows their recursion. Counted once per
    fragment here, a document may expand to at most `max_fields` fields and nest (fields, fragments
    and inline fragments) MAX_NESTING levels deep, else DOCUMENT_TOO_COMPLEX.
    """

    def __init__(self, max_fields: int) -> None:
        self.max_fields = max_fields

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.graphql_document is not None and execution.pre_execution_errors is None:
            error = self.check(execution.graphql_document)
            if error is not None:  # validation is skipped: the document is refused as it stands
                execution.pre_execution_errors = [error]
        yield

    def check(self, document: DocumentNode) -> GraphQLError | None:
        measure = _Measure(_fragments(document))
        fields = sum(
            measure.selections(d.selection_set, 1, frozenset())
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        )
        if measure.too_deep:
            message = f"document nested over {MAX_NESTING} levels (fields and fragments)"
            limits = {"maxNesting": MAX_NESTING}
        elif fields > self.max_fields:
            message = (
                f"document expands to {fields} fields with its fragments, the limit is {self.max_fields}"
            )
            limits = {"fields": fields, "maxFields": self.max_fields}
        else:
            return None
        return GraphQLError(message, extensions={"code": "DOCUMENT_TOO_COMPLEX", **limits})


class _Walk:
    """Sums `field` over a selection set with fragments expanded, each fragment summed once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.sums: dict[str, int] = {}
        self.too_deep = False

    def selections(self, selection_set: SelectionSetNode, level: int, spreading: frozenset[str]) -> int:
        if level > MAX_NESTING:
            self.too_deep = True
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, level, spreading)
            elif isinstance(selection, InlineFragmentNode):
                total += self.selections(selection.selection_set, level + 1, spreading)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spreading:  # unknown or cyclic: validation reports it
                    continue
                if name not in self.sums:
                    self.sums[name] = self.selections(fragment.selection_set, level + 1, spreading | {name})
                total += self.sums[name]
        return total

    def field(self, field: FieldNode, level: int, spreading: frozenset[str]) -> int:
        raise NotImplementedError


class _Measure(_Walk):
    """Counts fields at every level."""

    def field(self, field: FieldNode, level: int, spreading: frozenset[str]) -> int:
        inner = field.selection_set
        return 1 + (self.selections(inner, level + 1, spreading) if inner else 0)


class DocumentCost(SchemaExtension):
    """Validates each document and prices it with the request's variables and limits.

    The rules that read only the document (GraphQL's own, depth, aliases) give the same answer
    for the same text, so a document that passed them is not validated again (`validated`); the
    price depends on the variables too, so it is counted every time. Both are reported as the
    document's validation errors, before anything runs.
    """

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None and execution.pre_execution_errors is None:  # DocumentSize let it by
            context = execution.context
            found = context.get("settings") if isinstance(context, dict) else None
            settings = found if isinstance(found, GraphQLSettings) else GraphQLSettings()
            errors = validated(
                execution.schema._schema, execution.query or "", document, execution.validation_rules
            )
            errors += check(document, dict(execution.variables or {}), settings)
            execution.pre_execution_errors = errors  # validation is done: strawberry skips its own
        yield


#: Document texts that passed the document-only rules (a bounded LRU: query text -> the rules).
_VALID: OrderedDict[tuple[int, str, tuple[type[ASTValidationRule], ...]], None] = OrderedDict()
#: How many valid documents are remembered; each is at most the body limit (256 KB) of text.
VALID_DOCUMENTS = 64


def validated(
    schema: GraphQLSchema, query: str, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """The document's errors under `rules` (and strawberry's own two); none, without validating
    again, for a text that already passed the same rules. Only passes are remembered: errors are
    objects each answer may change."""
    key = (id(schema), query, rules)
    if key in _VALID:
        _VALID.move_to_end(key)
        return []
    errors = list(validate_document(schema, document, rules))
    if not errors and query:
        _VALID[key] = None
        if len(_VALID) > VALID_DOCUMENTS:
            _VALID.popitem(last=False)
    return errors


def check(document: DocumentNode, variables: dict[str, Any], settings: GraphQLSettings) -> list[GraphQLError]:
    """The refusals for `document`: over-long `_entities` lists, then any operation over the cost limit."""
    fragments = _fragments(document)
    errors: list[GraphQLError] = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        values = _defaults(operation) | variables
        counter = _Counter(ROOTS[operation.operation], fragments, values, settings.max_entities)
        cost = counter.selections(operation.selection_set, 1, frozenset())
        errors += counter.errors
        if not counter.errors and cost > settings.max_cost:
            errors.append(
                GraphQLError(
                    f"document too expensive: it would cost {cost}, the limit is {settings.max_cost} "
                    f"(a lookup costs {LOOKUP_COST}, a plan {PLANNING_COST} + 1 per second of time budget, "
                    f"a batch {PLANNING_COST} + 1 per second of its units' budgets together)",
                    operation,
                    extensions={"code": CODE, "cost": cost, "maxCost": settings.max_cost},
                )
            )
        goals = _RootGoals(ROOTS[operation.operation], fragments, values).selections(
            operation.selection_set, 1, frozenset()
        )
        if not counter.errors and goals > settings.max_result_goals:
            errors.append(
                GraphQLError(
                    f"document too large: its answer may hold {goals} goals, the limit is "
                    f"{settings.max_result_goals} (a plan holds up to {MAX_GOALS_PER_PLAN}, or its "
                    "`maxTicks`): ask for fewer plans (`first`) or batch units, or a lower `maxTicks`, "
                    "with their goals, or leave the goals out",
                    operation,
                    extensions={"code": CODE, "goals": goals, "maxGoals": settings.max_result_goals},
                )
            )
    return errors


class _Counter(_Walk):
    """Sums one operation's cost: the root fields that call the server."""

    def __init__(
        self,
        root: str,
        fragments: dict[str, FragmentDefinitionNode],
        values: dict[str, Any],
        max_entities: int,
    ) -> None:
        super().__init__(fragments)
        self.root = root
        self.values = values
        self.max_entities = max_entities
        self.errors: list[GraphQLError] = []

    def field(self, field: FieldNode, level: int, spreading: frozenset[str]) -> int:
        key = (self.root, field.name.value)
        arguments = {a.name.value: a.value for a in field.arguments or ()}
        if key in LOOKUPS:
            return LOOKUP_COST
        if key in PLANNERS:
            return PLANNING_COST + math.ceil(_budget_ms(arguments.get("options"), self.values) / 1000)
        if key == BATCH:
            units = _batch_units(arguments, self.values)
            return PLANNING_COST + math.ceil(units * _budget_ms(arguments.get("options"), self.values) / 1000)
        if key == ENTITIES:
            node = arguments.get("representations")
            count = _length(node, self.values)
            if count > self.max_entities:
                self.errors.append(
                    GraphQLError(
                        f"_entities takes at most {self.max_entities} representations, not {count}: "
                        "ask in smaller batches",
                        field,
                        extensions={"code": "BAD_USER_INPUT"},
                    )
                )
            else:
                self._check_representations(field, node)
            return count * LOOKUP_COST
        return 0

    def _check_representations(self, field: FieldNode, node: ValueNode | None) -> None:
        """Each must name an entity type and its key, or Strawberry answers with Python's words
        (a KeyError's "'Nope'", "'int' object has no attribute 'pop'") and no code."""
        value = value_from_ast_untyped(node, self.values) if node is not None else None
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            key = item.get("id") if isinstance(item, dict) else None
            if not (
                isinstance(item, dict)
                and item.get("__typename") in ENTITY_TYPES
                and (isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)))
            ):
                self.errors.append(
                    GraphQLError(
                        f'_entities: representations[{index}] must be {{__typename: "PlanType", '
                        'id: "<plan id>"}',
                        field,
                        extensions={"code": "BAD_USER_INPUT"},
                    )
                )
                return


class _Goals(_Walk):
    """The goals an answer may hold below a field, per instance of it: a `goals` list, at most
    `per_plan` (MAX_GOALS_PER_PLAN unless the plans' maxTicks is known)."""

    def __init__(
        self, fragments: dict[str, FragmentDefinitionNode], per_plan: int = MAX_GOALS_PER_PLAN
    ) -> None:
        super().__init__(fragments)
        self.per_plan = per_plan

    def field(self, field: FieldNode, level: int, spreading: frozenset[str]) -> int:
        if field.name.value == "goals":
            return self.per_plan
        inner = field.selection_set
        return self.selections(inner, level + 1, spreading) if inner else 0


class _RootGoals(_Walk):
    """The goals an operation's answer may hold: each root field's, times the plans it lists."""

    def __init__(
        self, root: str, fragments: dict[str, FragmentDefinitionNode], values: dict[str, Any]
    ) -> None:
        super().__init__(fragments)
        self.root = root
        self.values = values
        self.below = _Goals(fragments)

    def field(self, field: FieldNode, level: int, spreading: frozenset[str]) -> int:
        key = (self.root, field.name.value)
        if key in GOAL_LISTS:
            return MAX_GOALS_PER_PLAN
        arguments = {a.name.value: a.value for a in field.arguments or ()}
        inner = field.selection_set
        below = self.below.selections(inner, level + 1, spreading) if inner else 0
        if key == PAGE:
            return _page_size(arguments.get("first"), self.values) * below
        if key == BATCH:
            ticks = _max_ticks(arguments.get("options"), self.values)
            per_unit = (
                _Goals(self.below.fragments, ticks).selections(inner, level + 1, spreading) if inner else 0
            )
            return _batch_units(arguments, self.values) * per_unit
        if key == ENTITIES:
            return _length(arguments.get("representations"), self.values) * below
        return below


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    """Variables' default values: a variable the request leaves out costs what its default costs."""
    return {
        v.variable.name.value: value_from_ast_untyped(v.default_value)
        for v in operation.variable_definitions or ()
        if v.default_value is not None
    }


def _budget_ms(node: ValueNode | None, values: dict[str, Any]) -> float:
    options = value_from_ast_untyped(node, values) if node is not None else None
    given = options.get("timeBudgetMs") if isinstance(options, dict) else None
    if isinstance(given, int | float) and not isinstance(given, bool) and math.isfinite(given) and given > 0:
        return given
    return DEFAULT_BUDGET_MS  # unset (or invalid, which the server refuses without planning)


def _max_ticks(node: ValueNode | None, values: dict[str, Any]) -> int:
    options = value_from_ast_untyped(node, values) if node is not None else None
    given = options.get("maxTicks") if isinstance(options, dict) else None
    if isinstance(given, int) and not isinstance(given, bool) and 0 < given <= MAX_GOALS_PER_PLAN:
        return given
    return DEFAULT_MAX_TICKS  # unset (or invalid, which the server refuses without planning)


def _batch_units(arguments: dict[str, ValueNode], values: dict[str, Any]) -> int:
    """The units a batch plans: its assignments, or its game state's player units if none."""
    node = arguments.get("assignments")
    assignments = value_from_ast_untyped(node, values) if node is not None else None
    if isinstance(assignments, list) and assignments:
        return len(assignments)
    node = arguments.get("gameStateInput")
    state = value_from_ast_untyped(node, values) if node is not None else None
    players = state.get("playerUnits") if isinstance(state, dict) else None
    return len(players) if isinstance(players, list) else 1


def _length(node: ValueNode | None, values: dict[str, Any]) -> int:
    value = value_from_ast_untyped(node, values) if node is not None else None
    if isinstance(value, list):
        return len(value)
    return 0 if value is None else 1


def _page_size(node: ValueNode | None, values: dict[str, Any]) -> int:
    first = value_from_ast_untyped(node, values) if node is not None else None
    if isinstance(first, int) and not isinstance(first, bool) and first > 0:
        return first
    return DEFAULT_PAGE_SIZE  # unset or 0 (the server's default), or invalid (refused by the server)
