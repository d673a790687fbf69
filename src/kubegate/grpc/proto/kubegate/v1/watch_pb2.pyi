# ruff: noqa
# mypy: ignore-errors
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogPosition(_message.Message):
    __slots__ = ("segment", "offset")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    segment: int
    offset: int
    def __init__(self, segment: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class Subscribe(_message.Message):
    __slots__ = ("client", "policy_updates", "decision_log", "after", "policy_ids", "namespaces", "decision")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    POLICY_UPDATES_FIELD_NUMBER: _ClassVar[int]
    DECISION_LOG_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    POLICY_IDS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    client: str
    policy_updates: bool
    decision_log: bool
    after: LogPosition
    policy_ids: _containers.RepeatedScalarFieldContainer[str]
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    decision: str
    def __init__(self, client: _Optional[str] = ..., policy_updates: _Optional[bool] = ..., decision_log: _Optional[bool] = ..., after: _Optional[_Union[LogPosition, _Mapping]] = ..., policy_ids: _Optional[_Iterable[str]] = ..., namespaces: _Optional[_Iterable[str]] = ..., decision: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: LogPosition
    def __init__(self, position: _Optional[_Union[LogPosition, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("subscribe", "ack")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    subscribe: Subscribe
    ack: Ack
    def __init__(self, subscribe: _Optional[_Union[Subscribe, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ...) -> None: ...

class PolicyInfo(_message.Message):
    __slots__ = ("id", "version", "rollout", "stable_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    STABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: str
    rollout: str
    stable_version: str
    def __init__(self, id: _Optional[str] = ..., version: _Optional[str] = ..., rollout: _Optional[str] = ..., stable_version: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("policy_set_version", "sequence", "origin", "policies", "ready")
    POLICY_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    policy_set_version: str
    sequence: int
    origin: str
    policies: _containers.RepeatedCompositeFieldContainer[PolicyInfo]
    ready: bool
    def __init__(self, policy_set_version: _Optional[str] = ..., sequence: _Optional[int] = ..., origin: _Optional[str] = ..., policies: _Optional[_Iterable[_Union[PolicyInfo, _Mapping]]] = ..., ready: _Optional[bool] = ...) -> None: ...

class Activation(_message.Message):
    __slots__ = ("result", "policy_set_version", "sequence", "origin", "policies", "changed", "removed", "activated_at", "errors")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    POLICY_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_AT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    result: str
    policy_set_version: str
    sequence: int
    origin: str
    policies: _containers.RepeatedCompositeFieldContainer[PolicyInfo]
    changed: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    activated_at: float
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, result: _Optional[str] = ..., policy_set_version: _Optional[str] = ..., sequence: _Optional[int] = ..., origin: _Optional[str] = ..., policies: _Optional[_Iterable[_Union[PolicyInfo, _Mapping]]] = ..., changed: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., activated_at: _Optional[float] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class DecisionEntry(_message.Message):
    __slots__ = ("position", "record_json")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    position: LogPosition
    record_json: bytes
    def __init__(self, position: _Optional[_Union[LogPosition, _Mapping]] = ..., record_json: _Optional[bytes] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("snapshot", "activation", "decision")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    activation: Activation
    decision: DecisionEntry
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., activation: _Optional[_Union[Activation, _Mapping]] = ..., decision: _Optional[_Union[DecisionEntry, _Mapping]] = ...) -> None: ...
