import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from throttling.v1 import game_state_pb2 as _game_state_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Strategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRATEGY_UNSPECIFIED: _ClassVar[Strategy]
    STRATEGY_GENETIC: _ClassVar[Strategy]
    STRATEGY_RANDOM: _ClassVar[Strategy]
    STRATEGY_EXACT: _ClassVar[Strategy]

class Arrival(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARRIVAL_UNSPECIFIED: _ClassVar[Arrival]
    ARRIVAL_ON_TARGET: _ClassVar[Arrival]
    ARRIVAL_TOO_FAST: _ClassVar[Arrival]
    ARRIVAL_UNREACHABLE: _ClassVar[Arrival]
    ARRIVAL_OVERSHOOT_UNAVOIDABLE: _ClassVar[Arrival]
    ARRIVAL_OFF_TARGET: _ClassVar[Arrival]
STRATEGY_UNSPECIFIED: Strategy
STRATEGY_GENETIC: Strategy
STRATEGY_RANDOM: Strategy
STRATEGY_EXACT: Strategy
ARRIVAL_UNSPECIFIED: Arrival
ARRIVAL_ON_TARGET: Arrival
ARRIVAL_TOO_FAST: Arrival
ARRIVAL_UNREACHABLE: Arrival
ARRIVAL_OVERSHOOT_UNAVOIDABLE: Arrival
ARRIVAL_OFF_TARGET: Arrival

class PlannerOptions(_message.Message):
    __slots__ = ("strategy", "distance_weight", "speed_weight", "length_weight", "nonzero_weight", "speed_threshold", "min_throttle", "max_throttle", "max_ticks", "time_budget_ms", "seed")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SPEED_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LENGTH_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    NONZERO_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SPEED_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_THROTTLE_FIELD_NUMBER: _ClassVar[int]
    MAX_THROTTLE_FIELD_NUMBER: _ClassVar[int]
    MAX_TICKS_FIELD_NUMBER: _ClassVar[int]
    TIME_BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    strategy: Strategy
    distance_weight: float
    speed_weight: float
    length_weight: float
    nonzero_weight: float
    speed_threshold: float
    min_throttle: int
    max_throttle: int
    max_ticks: int
    time_budget_ms: int
    seed: int
    def __init__(self, strategy: _Optional[_Union[Strategy, str]] = ..., distance_weight: _Optional[float] = ..., speed_weight: _Optional[float] = ..., length_weight: _Optional[float] = ..., nonzero_weight: _Optional[float] = ..., speed_threshold: _Optional[float] = ..., min_throttle: _Optional[int] = ..., max_throttle: _Optional[int] = ..., max_ticks: _Optional[int] = ..., time_budget_ms: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("total", "distance_error", "speed_penalty", "ticks", "nonzero_ticks")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_ERROR_FIELD_NUMBER: _ClassVar[int]
    SPEED_PENALTY_FIELD_NUMBER: _ClassVar[int]
    TICKS_FIELD_NUMBER: _ClassVar[int]
    NONZERO_TICKS_FIELD_NUMBER: _ClassVar[int]
    total: float
    distance_error: float
    speed_penalty: float
    ticks: int
    nonzero_ticks: int
    def __init__(self, total: _Optional[float] = ..., distance_error: _Optional[float] = ..., speed_penalty: _Optional[float] = ..., ticks: _Optional[int] = ..., nonzero_ticks: _Optional[int] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_id", "goals", "score", "final_speed", "target_distance", "distance_covered", "distance_remaining", "strategy", "compute_time", "create_time", "request_id", "user_id", "game_state", "options", "lower_bound", "optimality_gap", "arrival", "proven_optimal", "guidance")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    GOALS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FINAL_SPEED_FIELD_NUMBER: _ClassVar[int]
    TARGET_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_COVERED_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_REMAINING_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    OPTIMALITY_GAP_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    PROVEN_OPTIMAL_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    goals: _containers.RepeatedCompositeFieldContainer[_game_state_pb2.UnitGoal]
    score: Score
    final_speed: float
    target_distance: float
    distance_covered: float
    distance_remaining: float
    strategy: Strategy
    compute_time: _duration_pb2.Duration
    create_time: _timestamp_pb2.Timestamp
    request_id: str
    user_id: str
    game_state: _game_state_pb2.GameState
    options: PlannerOptions
    lower_bound: float
    optimality_gap: float
    arrival: Arrival
    proven_optimal: bool
    guidance: GuidanceSummary
    def __init__(self, plan_id: _Optional[str] = ..., goals: _Optional[_Iterable[_Union[_game_state_pb2.UnitGoal, _Mapping]]] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., final_speed: _Optional[float] = ..., target_distance: _Optional[float] = ..., distance_covered: _Optional[float] = ..., distance_remaining: _Optional[float] = ..., strategy: _Optional[_Union[Strategy, str]] = ..., compute_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., user_id: _Optional[str] = ..., game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., options: _Optional[_Union[PlannerOptions, _Mapping]] = ..., lower_bound: _Optional[float] = ..., optimality_gap: _Optional[float] = ..., arrival: _Optional[_Union[Arrival, str]] = ..., proven_optimal: _Optional[bool] = ..., guidance: _Optional[_Union[GuidanceSummary, _Mapping]] = ...) -> None: ...

class GuidanceSummary(_message.Message):
    __slots__ = ("ticks", "replans", "final_miss", "final_speed", "estimated_friction", "completed")
    TICKS_FIELD_NUMBER: _ClassVar[int]
    REPLANS_FIELD_NUMBER: _ClassVar[int]
    FINAL_MISS_FIELD_NUMBER: _ClassVar[int]
    FINAL_SPEED_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FRICTION_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ticks: int
    replans: int
    final_miss: float
    final_speed: float
    estimated_friction: float
    completed: bool
    def __init__(self, ticks: _Optional[int] = ..., replans: _Optional[int] = ..., final_miss: _Optional[float] = ..., final_speed: _Optional[float] = ..., estimated_friction: _Optional[float] = ..., completed: _Optional[bool] = ...) -> None: ...

class PlanProgress(_message.Message):
    __slots__ = ("iteration", "elapsed", "goals", "score", "lower_bound", "optimality_gap")
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    GOALS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    OPTIMALITY_GAP_FIELD_NUMBER: _ClassVar[int]
    iteration: int
    elapsed: _duration_pb2.Duration
    goals: _containers.RepeatedCompositeFieldContainer[_game_state_pb2.UnitGoal]
    score: Score
    lower_bound: float
    optimality_gap: float
    def __init__(self, iteration: _Optional[int] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., goals: _Optional[_Iterable[_Union[_game_state_pb2.UnitGoal, _Mapping]]] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., lower_bound: _Optional[float] = ..., optimality_gap: _Optional[float] = ...) -> None: ...

class TickState(_message.Message):
    __slots__ = ("tick", "total_ticks", "goal", "speed", "distance_covered", "distance_remaining")
    TICK_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TICKS_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_COVERED_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_REMAINING_FIELD_NUMBER: _ClassVar[int]
    tick: int
    total_ticks: int
    goal: _game_state_pb2.UnitGoal
    speed: float
    distance_covered: float
    distance_remaining: float
    def __init__(self, tick: _Optional[int] = ..., total_ticks: _Optional[int] = ..., goal: _Optional[_Union[_game_state_pb2.UnitGoal, _Mapping]] = ..., speed: _Optional[float] = ..., distance_covered: _Optional[float] = ..., distance_remaining: _Optional[float] = ...) -> None: ...
