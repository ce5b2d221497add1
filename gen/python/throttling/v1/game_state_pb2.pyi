from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Coordinate(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class Unit(_message.Message):
    __slots__ = ("coordinate", "speed", "mass", "friction")
    COORDINATE_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    MASS_FIELD_NUMBER: _ClassVar[int]
    FRICTION_FIELD_NUMBER: _ClassVar[int]
    coordinate: Coordinate
    speed: float
    mass: float
    friction: float
    def __init__(self, coordinate: _Optional[_Union[Coordinate, _Mapping]] = ..., speed: _Optional[float] = ..., mass: _Optional[float] = ..., friction: _Optional[float] = ...) -> None: ...

class GameState(_message.Message):
    __slots__ = ("player_units", "enemy_units")
    PLAYER_UNITS_FIELD_NUMBER: _ClassVar[int]
    ENEMY_UNITS_FIELD_NUMBER: _ClassVar[int]
    player_units: _containers.RepeatedCompositeFieldContainer[Unit]
    enemy_units: _containers.RepeatedCompositeFieldContainer[Unit]
    def __init__(self, player_units: _Optional[_Iterable[_Union[Unit, _Mapping]]] = ..., enemy_units: _Optional[_Iterable[_Union[Unit, _Mapping]]] = ...) -> None: ...

class UnitGoal(_message.Message):
    __slots__ = ("coordinate", "throttle")
    COORDINATE_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    coordinate: Coordinate
    throttle: int
    def __init__(self, coordinate: _Optional[_Union[Coordinate, _Mapping]] = ..., throttle: _Optional[int] = ...) -> None: ...
