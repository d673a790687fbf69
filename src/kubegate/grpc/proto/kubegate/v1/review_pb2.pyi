# ruff: noqa
# mypy: ignore-errors
import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewRequest(_message.Message):
    __slots__ = ("json", "struct", "policy_ids", "operation", "request_id")
    JSON_FIELD_NUMBER: _ClassVar[int]
    STRUCT_FIELD_NUMBER: _ClassVar[int]
    POLICY_IDS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    json: bytes
    struct: _struct_pb2.Struct
    policy_ids: _containers.RepeatedScalarFieldContainer[str]
    operation: str
    request_id: str
    def __init__(self, json: _Optional[bytes] = ..., struct: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., policy_ids: _Optional[_Iterable[str]] = ..., operation: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("policy", "message", "details", "enforcement_action")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    policy: str
    message: str
    details: _struct_pb2.Struct
    enforcement_action: str
    def __init__(self, policy: _Optional[str] = ..., message: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., enforcement_action: _Optional[str] = ...) -> None: ...

class PolicyResult(_message.Message):
    __slots__ = ("id", "version", "allowed", "duration_ms", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: str
    allowed: bool
    duration_ms: float
    error: str
    def __init__(self, id: _Optional[str] = ..., version: _Optional[str] = ..., allowed: _Optional[bool] = ..., duration_ms: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class ReviewResponse(_message.Message):
    __slots__ = ("allowed", "violations", "policy_set_version", "policies", "duration", "decision_id", "message", "warnings", "reason", "cache", "request_id", "error_code", "error_message")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    policy_set_version: str
    policies: _containers.RepeatedCompositeFieldContainer[PolicyResult]
    duration: _duration_pb2.Duration
    decision_id: str
    message: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    cache: str
    request_id: str
    error_code: str
    error_message: str
    def __init__(self, allowed: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., policy_set_version: _Optional[str] = ..., policies: _Optional[_Iterable[_Union[PolicyResult, _Mapping]]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., decision_id: _Optional[str] = ..., message: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., cache: _Optional[str] = ..., request_id: _Optional[str] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("policy_id", "json", "struct")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    STRUCT_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    json: bytes
    struct: _struct_pb2.Struct
    def __init__(self, policy_id: _Optional[str] = ..., json: _Optional[bytes] = ..., struct: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("allowed", "violations", "policy_version", "policy_set_version", "duration", "error")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    policy_version: str
    policy_set_version: str
    duration: _duration_pb2.Duration
    error: str
    def __init__(self, allowed: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., policy_version: _Optional[str] = ..., policy_set_version: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
