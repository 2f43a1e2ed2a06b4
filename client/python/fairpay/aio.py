"""AsyncClient: one TLS connection to fairpayd, pipelined, reconnecting.

Requests are framed (4-byte big-endian length, then a serialized Request) and
written as they come; one reader task per connection reads Responses and
resolves the waiting call by id, so any number of calls may be in flight and
answered in any order. A call that passes its deadline raises
DeadlineExceeded and forgets its id: the late reply is dropped, and the
connection stays in use.

When the connection breaks, the calls in flight fail with ConnectionLost
(retryable) and are sent again on a new connection, within their deadline and
up to ``retries`` times; the client reconnects with exponential backoff and
jitter and authenticates again with its key. A mutating call always carries an
idempotency key (one is generated when the caller gives none) and a retry
sends the same key, so the server applies it at most once and answers a retry
of a committed call with the first reply (``replayed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import ssl
import uuid
from typing import Any, Dict, Mapping, Optional, Tuple

from ._pb import pb
from .calls import CALLS, Call, build_message
from .errors import (
    ConnectError,
    ConnectionLost,
    DeadlineExceeded,
    Error,
    ProtocolError,
    RequestTooLarge,
    error_for_status,
)

#: The ALPN protocol id of PROTOCOL.md.
ALPN = "fairpay/1"
#: fairpayd's default port.
DEFAULT_PORT = 7443
#: The largest reply accepted (a page of a list may pass the server's own
#: request limit, PROTOCOL.md's max_frame, by far).
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
#: The largest request sent: the server's default max_frame (PROTOCOL.md).
#: The server closes the connection on a larger frame, so a larger request
#: fails here, before it is sent; raise it for a server started with a
#: larger --max-frame.
DEFAULT_MAX_REQUEST = 65536
_HEADER = 4


@dataclasses.dataclass(frozen=True)
class Reply:
    """A call's result with the envelope's details."""

    response: Any  # the call's FooResponse
    replayed: bool  # served from an idempotency record
    idempotency_key: str  # "" on a read-only call


def parse_address(address: str, default_port: int = DEFAULT_PORT) -> Tuple[str, int]:
    """Split "HOST:PORT" ("[::1]:7443"; the port may be left out)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    return host, int(port) if port else default_port


def make_ssl_context(
    ca_file: Optional[str] = None,
    client_cert: Optional[str] = None,
    client_key: Optional[str] = None,
) -> ssl.SSLContext:
    """Make the TLS context: verification on, TLS 1.2 at least, ALPN fairpay/1.

    ``ca_file`` None trusts the system's store; ``client_cert`` (with
    ``client_key``, or a PEM holding both) is offered for mutual TLS.
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols([ALPN])
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key)
    return ctx


class _Connection:
    """One TLS stream and the calls waiting on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame: int):
        self._reader = reader
        self._writer = writer
        self._max_frame = max_frame
        self._pending: Dict[int, asyncio.Future] = {}
        self.closed = False
        sslobj = writer.get_extra_info("ssl_object")
        #: The ALPN protocol the server chose (None: it chose none).
        self.alpn = sslobj.selected_alpn_protocol() if sslobj is not None else None
        self.dropped_replies = 0  # late replies of calls that gave up
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        reason: Error = ConnectionLost("the server closed the connection")
        try:
            while True:
                header = await self._reader.readexactly(_HEADER)
                length = int.from_bytes(header, "big")
                if length == 0 or length > self._max_frame:
                    reason = ProtocolError(f"reply frame of {length} bytes (limit {self._max_frame})")
                    return
                body = await self._reader.readexactly(length)
                resp = pb.Response()
                try:
                    resp.ParseFromString(body)
                except Exception as exc:  # DecodeError, whatever the backend
                    reason = ProtocolError(f"reply does not decode: {exc}")
                    return
                if resp.id == 0:
                    reason = self._refusal(resp.status)
                    return
                fut = self._pending.pop(resp.id, None)
                if fut is None or fut.done():
                    self.dropped_replies += 1
                    continue
                fut.set_result(resp)
        except asyncio.CancelledError:
            reason = ConnectionLost("the connection was closed")
            raise
        except (asyncio.IncompleteReadError, OSError, ssl.SSLError) as exc:
            reason = ConnectionLost(f"the connection broke: {exc!r}")
        finally:
            self._shut(reason)

    @staticmethod
    def _refusal(status: Any) -> Error:
        # The server answers id 0 and closes the connection. INVALID_ARGUMENT:
        # a request it could not read (a call this server does not know);
        # sending it again would only fail again. Otherwise (authentication
        # timeout, too many connections) the calls may try again.
        err = error_for_status(status)
        if status.code == pb.INVALID_ARGUMENT:
            return ProtocolError(
                f"the server refused a request and closed the connection: {status.message}",
                code=status.code,
                field=status.field,
            )
        return ConnectionLost(f"the server closed the connection: {err}")

    def _shut(self, reason: Error) -> None:
        if self.closed:
            return
        self.closed = True
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(reason)
        self._writer.close()

    def close(self) -> None:
        """Close the stream; calls in flight fail with ConnectionLost."""
        self._shut(ConnectionLost("the client closed the connection"))
        self._task.cancel()

    async def aclose(self, grace: float = 1.0) -> None:
        """Close, and wait up to ``grace`` seconds for TLS to say goodbye."""
        self.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), grace)
        except (asyncio.TimeoutError, OSError, ssl.SSLError):
            self._writer.transport.abort()

    async def roundtrip(self, req: Any, deadline: float, what: str) -> Any:
        """Send ``req`` and wait for its Response until ``deadline``."""
        if self.closed:
            raise ConnectionLost("the connection is closed")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending[req.id] = fut
        try:
            body = req.SerializeToString()
            self._writer.write(len(body).to_bytes(_HEADER, "big") + body)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError
            return await asyncio.wait_for(self._drain_then(fut), remaining)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"no reply to {what} in time") from None
        finally:
            self._pending.pop(req.id, None)

    async def _drain_then(self, fut: asyncio.Future) -> Any:
        try:
            await self._writer.drain()
        except (OSError, ssl.SSLError) as exc:
            self._shut(ConnectionLost(f"the connection broke: {exc!r}"))
        return await fut


class AsyncClient:
    """An asyncio client of fairpayd; every call of the protocol is a method.

    ``client.create_offer(customer_id="alice", sku="ebook")`` builds a
    CreateOfferRequest from the keywords (nested messages as dicts or
    messages) and returns the CreateOfferResponse, or raises ``fairpay.Error``.
    Every method also takes ``timeout`` (seconds) and ``idempotency_key``.
    ``call()`` returns a ``Reply`` that also says whether it was replayed.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        host: Optional[str] = None,
        port: int = DEFAULT_PORT,
        api_key: Optional[str] = None,
        ca_file: Optional[str] = None,
        server_hostname: Optional[str] = None,
        client_cert: Optional[str] = None,
        client_key: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_request: int = DEFAULT_MAX_REQUEST,
    ) -> None:
        if address is not None:
            host, port = parse_address(address, port)
        if not host:
            raise ValueError("give the server's address ('HOST:PORT') or host=")
        self.host = host
        self.port = port
        self._api_key = api_key
        self._server_hostname = server_hostname or host
        self._ssl = ssl_context or make_ssl_context(ca_file, client_cert, client_key)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_frame = max_frame
        self._max_request = max_request
        self._ids = itertools.count(1)
        self._conn: Optional[_Connection] = None
        self._lock: Optional[asyncio.Lock] = None
        self._closed = False
        #: Connections made so far (1 after connect(); more after reconnects).
        self.connects = 0
        #: The AuthenticateResponse of the current connection, or None.
        self.identity: Any = None

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> "AsyncClient":
        """Connect (and authenticate when a key was given); return self."""
        loop = asyncio.get_running_loop()
        await self._connection(loop.time() + self.connect_timeout)
        return self

    async def close(self) -> None:
        """Close the connection; calls in flight fail with ConnectionLost."""
        self._closed = True
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def alpn(self) -> Optional[str]:
        """The ALPN protocol of the current connection ("fairpay/1")."""
        return self._conn.alpn if self._conn is not None else None

    @property
    def dropped_replies(self) -> int:
        """Late replies the current connection dropped (their calls gave up)."""
        return self._conn.dropped_replies if self._conn is not None else 0

    def _backoff(self, attempt: int) -> float:
        # Exponential, capped, with jitter so that many clients cut off at
        # once do not come back in step.
        ceiling = min(self._backoff_max, self._backoff_base * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)

    async def _connection(self, deadline: float) -> _Connection:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            loop = asyncio.get_running_loop()
            attempt = 0
            while True:
                if self._closed:
                    raise ConnectionLost("the client is closed")
                try:
                    conn = await self._open(deadline)
                except Error as exc:
                    if not exc.retryable:
                        raise
                    last: Exception = exc
                except (OSError, asyncio.TimeoutError) as exc:
                    last = exc
                else:
                    self._conn = conn
                    self.connects += 1
                    return conn
                delay = self._backoff(attempt)
                attempt += 1
                if loop.time() + delay >= deadline:
                    err = ConnectError(f"cannot connect to {self.host}:{self.port}: {last}")
                    err.retryable = True
                    raise err from last
                await asyncio.sleep(delay)

    async def _open(self, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        remaining = max(0.001, deadline - loop.time())
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                    ssl_handshake_timeout=remaining,
                ),
                remaining,
            )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(f"TLS verification of {self._server_hostname} failed: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") from exc
        conn = _Connection(reader, writer, self._max_frame)
        if conn.alpn not in (None, ALPN):
            await conn.aclose()
            raise ConnectError(f"the server chose ALPN {conn.alpn!r}, not {ALPN!r}")
        self.identity = None
        if self._api_key:
            req = pb.Request(id=next(self._ids))
            req.authenticate.api_key = self._api_key
            try:
                resp = await conn.roundtrip(req, deadline, "Authenticate")
            except Error:
                await conn.aclose()
                raise
            if resp.status.code != pb.OK:
                await conn.aclose()
                raise error_for_status(resp.status)
            self.identity = resp.authenticate
        return conn

    # ------------------------------------------------------------ calls

    async def call(
        self,
        call: str,
        request: Any = None,
        *,
        timeout: Optional[float] = None,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> Reply:
        """Make the call named ``call`` ("create_offer") and return its Reply.

        ``request`` may be the request message or a dict; otherwise the
        keyword fields build it.
        """
        spec = CALLS.get(call)
        if spec is None:
            raise AttributeError(f"no call {call!r} in the protocol")
        req_msg = self._request(spec, request, fields)
        key = idempotency_key
        if key is None:
            key = uuid.uuid4().hex if spec.mutating else ""
        # The envelope's size with the largest id it can carry.
        size = pb.Request(id=2**64 - 1, idempotency_key=key)
        getattr(size, spec.field).CopyFrom(req_msg)
        if size.ByteSize() > self._max_request:
            raise RequestTooLarge(
                f"{spec.name} request of {size.ByteSize()} bytes is over the limit of "
                f"{self._max_request} (the server's max_frame)",
                code=pb.RESOURCE_EXHAUSTED,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        attempt = 0
        while True:
            try:
                conn = await self._connection(deadline)
                env = pb.Request(id=next(self._ids), idempotency_key=key)
                getattr(env, spec.field).CopyFrom(req_msg)
                resp = await conn.roundtrip(env, deadline, spec.name)
            except Error as exc:
                if (
                    not exc.retryable
                    or attempt >= self.retries
                    or self._closed
                    or loop.time() >= deadline
                ):
                    raise
                attempt += 1
                continue  # _connection() reconnects, with backoff
            if resp.status.code == pb.OK:
                if spec.field == "authenticate":
                    # Later reconnects authenticate as the caller now is.
                    self._api_key = req_msg.api_key
                    self.identity = resp.authenticate
                return Reply(getattr(resp, spec.field), resp.replayed, key)
            err = error_for_status(resp.status, resp.replayed)
            delay = self._backoff(attempt)
            if not err.retryable or attempt >= self.retries or loop.time() + delay >= deadline:
                raise err
            attempt += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _request(spec: Call, request: Any, fields: Mapping[str, Any]) -> Any:
        if request is None:
            return build_message(spec.request_class, fields)
        if fields:
            raise TypeError(f"{spec.field}: give a request or keyword fields, not both")
        if isinstance(request, Mapping):
            return build_message(spec.request_class, request)
        if not isinstance(request, spec.request_class):
            raise TypeError(f"{spec.field}: expected a {spec.request_class.__name__}")
        return request


def _async_method(spec: Call) -> Any:
    async def method(
        self: AsyncClient,
        request: Any = None,
        *,
        timeout: Optional[float] = None,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> Any:
        reply = await self.call(
            spec.field, request, timeout=timeout, idempotency_key=idempotency_key, **fields
        )
        return reply.response

    method.__name__ = spec.field
    method.__qualname__ = f"AsyncClient.{spec.field}"
    method.__doc__ = call_doc(spec)
    return method


def call_doc(spec: Call) -> str:
    """The docstring of a call's method."""
    doc = (
        f"Call {spec.name}: build a {spec.request_class.__name__} from the keyword "
        f"fields and return the {spec.response_class.__name__}."
    )
    if spec.mutating:
        doc += " Mutating: sent with an idempotency key (generated unless given), reused on retries."
    return doc


for _spec in CALLS.values():
    setattr(AsyncClient, _spec.field, _async_method(_spec))
del _spec
