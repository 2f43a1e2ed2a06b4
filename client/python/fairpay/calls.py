"""The calls of the FairPay protocol, read from the proto's Request oneof.

Nothing here lists calls by hand: every field of ``Request.call`` is a call,
its message type names the request, and the field of the same name in
``Response.result`` names the response. A call added to proto/fairpay.proto
becomes a client method without a change here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping

from ._pb import pb

# PROTOCOL.md, "Mutating calls": every call but Ping, Get*, List*,
# VerifyAttestation and SimulatePolicy honours an idempotency key.
# Authenticate opens the session rather than changing data (the server
# does not record it either), so it is read-only here too.
_READ_ONLY_PREFIXES = ("Get", "List")
_READ_ONLY_CALLS = frozenset({"Ping", "Authenticate", "VerifyAttestation", "SimulatePolicy"})

# Keyword arguments every call method takes besides the request's fields.
CALL_OPTIONS = ("timeout", "idempotency_key")


def is_mutating(call_name: str) -> bool:
    """Tell whether the call ``call_name`` (e.g. "CreateOffer") changes state."""
    if call_name in _READ_ONLY_CALLS:
        return False
    return not call_name.startswith(_READ_ONLY_PREFIXES)


@dataclasses.dataclass(frozen=True)
class Call:
    """One call: its names, its message classes and whether it mutates."""

    name: str  # "CreateOffer"
    field: str  # "create_offer": the oneof field and the method name
    request_class: Any
    response_class: Any
    mutating: bool


def _load_calls() -> Dict[str, Call]:
    calls: Dict[str, Call] = {}
    results = pb.Response.DESCRIPTOR.oneofs_by_name["result"].fields
    result_by_name = {f.name: f for f in results}
    for field in pb.Request.DESCRIPTOR.oneofs_by_name["call"].fields:
        req_type = field.message_type.name
        if not req_type.endswith("Request"):
            raise ImportError(f"Request.{field.name} is a {req_type}, not a *Request")
        name = req_type[: -len("Request")]
        result = result_by_name.get(field.name)
        if result is None:
            raise ImportError(f"Response.result has no field {field.name}")
        for opt in CALL_OPTIONS:
            if opt in field.message_type.fields_by_name:
                raise ImportError(f"{req_type}.{opt} collides with a call option")
        calls[field.name] = Call(
            name=name,
            field=field.name,
            request_class=getattr(pb, req_type),
            response_class=getattr(pb, result.message_type.name),
            mutating=is_mutating(name),
        )
    return calls


CALLS: Dict[str, Call] = _load_calls()


def _enum_value(enum_desc: Any, value: Any, where: str) -> int:
    """An enum value from its number, full name or name after the prefix."""
    if isinstance(value, bool):
        raise TypeError(f"{where}: expected a {enum_desc.name}, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        by_name = enum_desc.values_by_name
        if value in by_name:
            return by_name[value].number
        # PROTOCOL.md: values carry the style guide's prefix; clients match
        # the name after it ("STANDARD" for TIER_STANDARD).
        for v in enum_desc.values:
            if v.name.endswith("_" + value) or v.name == value:
                return v.number
        raise ValueError(f"{where}: {value!r} is not a {enum_desc.name}")
    raise TypeError(f"{where}: expected a {enum_desc.name}, got {type(value).__name__}")


def _convert(field: Any, value: Any, where: str) -> Any:
    if field.message_type is not None:
        if isinstance(value, Mapping):
            return build_message(getattr(pb, field.message_type.name), value, where)
        return value
    if field.enum_type is not None:
        return _enum_value(field.enum_type, value, where)
    return value


def build_message(cls: Any, fields: Mapping[str, Any], where: str = "") -> Any:
    """Build a message of class ``cls`` from keyword fields.

    Nested messages may be given as dicts or as messages, enum values as
    numbers or names (with or without their prefix); None leaves a field unset.
    """
    desc = cls.DESCRIPTOR
    msg = cls()
    for key, value in fields.items():
        field = desc.fields_by_name.get(key)
        path = f"{where}.{key}" if where else key
        if field is None:
            raise TypeError(f"{desc.name} has no field {path!r}")
        if value is None:
            continue
        if field.label == field.LABEL_REPEATED:
            items = [_convert(field, v, path) for v in value]
            if field.message_type is not None:
                getattr(msg, key).extend(items)
            else:
                getattr(msg, key)[:] = items
        elif field.message_type is not None:
            getattr(msg, key).CopyFrom(_convert(field, value, path))
        else:
            setattr(msg, key, _convert(field, value, path))
    return msg
