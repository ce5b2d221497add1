from google.api import annotations_pb2 as _annotations_pb2
from google.rpc import status_pb2 as _status_pb2
from throttling.v1 import game_state_pb2 as _game_state_pb2
from throttling.v1 import planning_pb2 as _planning_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CalculateThrottleStepsRequest(_message.Message):
    __slots__ = ("game_state", "options")
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    game_state: _game_state_pb2.GameState
    options: _planning_pb2.PlannerOptions
    def __init__(self, game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., options: _Optional[_Union[_planning_pb2.PlannerOptions, _Mapping]] = ...) -> None: ...

class CalculateThrottleStepsResponse(_message.Message):
    __slots__ = ("goals",)
    GOALS_FIELD_NUMBER: _ClassVar[int]
    goals: _containers.RepeatedCompositeFieldContainer[_game_state_pb2.UnitGoal]
    def __init__(self, goals: _Optional[_Iterable[_Union[_game_state_pb2.UnitGoal, _Mapping]]] = ...) -> None: ...

class CreatePlanRequest(_message.Message):
    __slots__ = ("game_state", "options")
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    game_state: _game_state_pb2.GameState
    options: _planning_pb2.PlannerOptions
    def __init__(self, game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., options: _Optional[_Union[_planning_pb2.PlannerOptions, _Mapping]] = ...) -> None: ...

class CreatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _planning_pb2.Plan
    def __init__(self, plan: _Optional[_Union[_planning_pb2.Plan, _Mapping]] = ...) -> None: ...

class StreamThrottleStepsRequest(_message.Message):
    __slots__ = ("game_state", "options", "tick_interval_ms")
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TICK_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    game_state: _game_state_pb2.GameState
    options: _planning_pb2.PlannerOptions
    tick_interval_ms: int
    def __init__(self, game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., options: _Optional[_Union[_planning_pb2.PlannerOptions, _Mapping]] = ..., tick_interval_ms: _Optional[int] = ...) -> None: ...

class StreamThrottleStepsResponse(_message.Message):
    __slots__ = ("tick", "done")
    TICK_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    tick: _planning_pb2.TickState
    done: StreamDone
    def __init__(self, tick: _Optional[_Union[_planning_pb2.TickState, _Mapping]] = ..., done: _Optional[_Union[StreamDone, _Mapping]] = ...) -> None: ...

class StreamDone(_message.Message):
    __slots__ = ("plan_id", "total_ticks", "score")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TICKS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    total_ticks: int
    score: _planning_pb2.Score
    def __init__(self, plan_id: _Optional[str] = ..., total_ticks: _Optional[int] = ..., score: _Optional[_Union[_planning_pb2.Score, _Mapping]] = ...) -> None: ...

class StreamPlanProgressRequest(_message.Message):
    __slots__ = ("game_state", "options")
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    game_state: _game_state_pb2.GameState
    options: _planning_pb2.PlannerOptions
    def __init__(self, game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., options: _Optional[_Union[_planning_pb2.PlannerOptions, _Mapping]] = ...) -> None: ...

class StreamPlanProgressResponse(_message.Message):
    __slots__ = ("progress", "done")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    progress: _planning_pb2.PlanProgress
    done: _planning_pb2.Plan
    def __init__(self, progress: _Optional[_Union[_planning_pb2.PlanProgress, _Mapping]] = ..., done: _Optional[_Union[_planning_pb2.Plan, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("storage", "outbox", "pending_writes", "max_write_delay_seconds", "poisoned_writes")
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_FIELD_NUMBER: _ClassVar[int]
    PENDING_WRITES_FIELD_NUMBER: _ClassVar[int]
    MAX_WRITE_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POISONED_WRITES_FIELD_NUMBER: _ClassVar[int]
    storage: str
    outbox: bool
    pending_writes: int
    max_write_delay_seconds: float
    poisoned_writes: int
    def __init__(self, storage: _Optional[str] = ..., outbox: _Optional[bool] = ..., pending_writes: _Optional[int] = ..., max_write_delay_seconds: _Optional[float] = ..., poisoned_writes: _Optional[int] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _planning_pb2.Plan
    def __init__(self, plan: _Optional[_Union[_planning_pb2.Plan, _Mapping]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[_planning_pb2.Plan]
    next_page_token: str
    def __init__(self, plans: _Optional[_Iterable[_Union[_planning_pb2.Plan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("player_index", "enemy_index")
    PLAYER_INDEX_FIELD_NUMBER: _ClassVar[int]
    ENEMY_INDEX_FIELD_NUMBER: _ClassVar[int]
    player_index: int
    enemy_index: int
    def __init__(self, player_index: _Optional[int] = ..., enemy_index: _Optional[int] = ...) -> None: ...

class CreatePlanBatchRequest(_message.Message):
    __slots__ = ("game_state", "assignments", "options")
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    game_state: _game_state_pb2.GameState
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    options: _planning_pb2.PlannerOptions
    def __init__(self, game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., options: _Optional[_Union[_planning_pb2.PlannerOptions, _Mapping]] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("plan", "error", "assignment")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    plan: _planning_pb2.Plan
    error: _status_pb2.Status
    assignment: Assignment
    def __init__(self, plan: _Optional[_Union[_planning_pb2.Plan, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...

class CreatePlanBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResult, _Mapping]]] = ...) -> None: ...

class GuideRequest(_message.Message):
    __slots__ = ("start", "observation")
    START_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    start: GuideStart
    observation: Observation
    def __init__(self, start: _Optional[_Union[GuideStart, _Mapping]] = ..., observation: _Optional[_Union[Observation, _Mapping]] = ...) -> None: ...

class GuideStart(_message.Message):
    __slots__ = ("game_state", "options")
    GAME_STATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    game_state: _game_state_pb2.GameState
    options: _planning_pb2.PlannerOptions
    def __init__(self, game_state: _Optional[_Union[_game_state_pb2.GameState, _Mapping]] = ..., options: _Optional[_Union[_planning_pb2.PlannerOptions, _Mapping]] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("tick", "coordinate", "speed")
    TICK_FIELD_NUMBER: _ClassVar[int]
    COORDINATE_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    tick: int
    coordinate: _game_state_pb2.Coordinate
    speed: float
    def __init__(self, tick: _Optional[int] = ..., coordinate: _Optional[_Union[_game_state_pb2.Coordinate, _Mapping]] = ..., speed: _Optional[float] = ...) -> None: ...

class GuideResponse(_message.Message):
    __slots__ = ("tick", "throttle", "replanned", "speed", "distance_remaining", "done", "estimated_friction", "arrival", "plan_id")
    TICK_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    REPLANNED_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_REMAINING_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FRICTION_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    tick: int
    throttle: int
    replanned: bool
    speed: float
    distance_remaining: float
    done: bool
    estimated_friction: float
    arrival: _planning_pb2.Arrival
    plan_id: str
    def __init__(self, tick: _Optional[int] = ..., throttle: _Optional[int] = ..., replanned: _Optional[bool] = ..., speed: _Optional[float] = ..., distance_remaining: _Optional[float] = ..., done: _Optional[bool] = ..., estimated_friction: _Optional[float] = ..., arrival: _Optional[_Union[_planning_pb2.Arrival, str]] = ..., plan_id: _Optional[str] = ...) -> None: ...
