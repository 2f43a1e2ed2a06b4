"""Exceptions: the server's status codes, and failures on the client's side.

``Error`` carries ``code`` (the number of the proto's ``Code``), ``code_name``
("NOT_FOUND"), ``message``, ``field`` and ``replayed``. Each server code has
its subclass, named from the proto's enum (``NOT_FOUND`` -> ``NotFound``), so
that callers can catch one kind; ``error_for_status`` picks it. Failures that
never reached an answer (``ConnectionLost``, ``DeadlineExceeded``,
``ConnectError``) have ``code`` None.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

from ._pb import pb


class Error(Exception):
    """A call that did not succeed."""

    #: True when trying the same call again may succeed (with the same
    #: idempotency key for a mutating call).
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: Optional[int] = None,
        field: str = "",
        replayed: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.replayed = replayed

    @property
    def code_name(self) -> str:
        """The code's name in the proto's enum, e.g. "NOT_FOUND"."""
        if self.code is None:
            return type(self).__name__
        try:
            return pb.Code.Name(self.code)
        except ValueError:
            return str(self.code)

    def __str__(self) -> str:
        text = self.code_name
        if self.code is not None:
            text += f" ({self.code})"
        if self.message:
            text += f": {self.message}"
        if self.field:
            text += f" [field {self.field}]"
        return text


class ConnectionLost(Error, ConnectionError):
    """The connection broke before the reply came; the call may be retried."""

    retryable = True


class DeadlineExceeded(Error, TimeoutError):
    """No reply within the call's timeout; the connection stays usable."""


class ConnectError(Error, ConnectionError):
    """The connection could not be made (TLS verification, refused, ALPN)."""


class ProtocolError(Error):
    """The server sent something this client cannot read, or refused a frame."""


class RequestTooLarge(ProtocolError):
    """The request is larger than the server takes (its max_frame): not sent,
    and sending it again would not help."""


def _class_name(code_name: str) -> str:
    return "".join(part.capitalize() for part in code_name.split("_"))


# One subclass per non-OK Code of the proto: INVALID_ARGUMENT -> InvalidArgument.
# UNAVAILABLE (the database is down) and ABORTED (the same idempotency key is
# still in flight) are worth retrying.
_RETRYABLE_CODES = frozenset({"UNAVAILABLE", "ABORTED"})
BY_CODE: Dict[int, Type[Error]] = {}
for _value in pb.Code.DESCRIPTOR.values:
    if _value.number == 0:
        continue
    _cls = type(
        _class_name(_value.name),
        (Error,),
        {
            "__doc__": f"The server answered {_value.name}.",
            "__module__": __name__,
            "retryable": _value.name in _RETRYABLE_CODES,
        },
    )
    globals()[_cls.__name__] = _cls
    BY_CODE[_value.number] = _cls
del _value, _cls


def error_for_status(status: Any, replayed: bool = False) -> Error:
    """Make the exception for a non-OK ``Status``."""
    cls = BY_CODE.get(status.code, Error)
    return cls(status.message, code=status.code, field=status.field, replayed=replayed)


__all__ = [
    "Error",
    "ConnectionLost",
    "DeadlineExceeded",
    "ConnectError",
    "ProtocolError",
    "RequestTooLarge",
    "error_for_status",
    "BY_CODE",
] + [cls.__name__ for cls in BY_CODE.values()]
