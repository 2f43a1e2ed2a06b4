"""Client: the blocking wrapper for scripts, over a private event loop thread.

Each Client runs an AsyncClient on its own event loop in a daemon thread;
every method hands its call to that loop and waits. One Client may be used
from several threads at once: their calls are pipelined on one connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine, Optional

from .aio import AsyncClient, Reply, call_doc
from .calls import CALLS, Call


class Client:
    """A blocking client of fairpayd; takes AsyncClient's arguments.

    ``fairpay.Client("127.0.0.1:7443", api_key=..., ca_file=...)`` connects
    at once (and authenticates); each call of the protocol is a method, as on
    AsyncClient, and blocks until its reply.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fairpay-client", daemon=True)
        self._thread.start()
        self._aio = AsyncClient(*args, **kwargs)
        try:
            self._run(self._aio.connect())
        except BaseException:
            self.close()
            raise

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def aio(self) -> AsyncClient:
        """The AsyncClient underneath (its loop runs in another thread)."""
        return self._aio

    @property
    def identity(self) -> Any:
        """The AuthenticateResponse of the current connection, or None."""
        return self._aio.identity

    @property
    def connects(self) -> int:
        """Connections made so far."""
        return self._aio.connects

    @property
    def alpn(self) -> Optional[str]:
        """The ALPN protocol of the current connection."""
        return self._aio.alpn

    @property
    def dropped_replies(self) -> int:
        """Late replies the current connection dropped."""
        return self._aio.dropped_replies

    def call(
        self,
        call: str,
        request: Any = None,
        *,
        timeout: Optional[float] = None,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> Reply:
        """Make the call named ``call`` and return its Reply (see AsyncClient.call)."""
        return self._run(
            self._aio.call(call, request, timeout=timeout, idempotency_key=idempotency_key, **fields)
        )

    def submit(
        self,
        call: str,
        request: Any = None,
        *,
        timeout: Optional[float] = None,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> "concurrent.futures.Future[Reply]":
        """Start the call named ``call`` without waiting; return a Future of its Reply.

        Calls submitted together are pipelined on the connection.
        """
        if not self._thread.is_alive():
            raise RuntimeError("the client is closed")
        coro = self._aio.call(call, request, timeout=timeout, idempotency_key=idempotency_key, **fields)
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def close(self) -> None:
        """Close the connection and stop the loop thread."""
        if not self._thread.is_alive():
            return
        try:
            self._run(self._aio.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _sync_method(spec: Call) -> Any:
    def method(
        self: Client,
        request: Any = None,
        *,
        timeout: Optional[float] = None,
        idempotency_key: Optional[str] = None,
        **fields: Any,
    ) -> Any:
        return self.call(spec.field, request, timeout=timeout, idempotency_key=idempotency_key, **fields).response

    method.__name__ = spec.field
    method.__qualname__ = f"Client.{spec.field}"
    method.__doc__ = call_doc(spec)
    return method


for _spec in CALLS.values():
    setattr(Client, _spec.field, _sync_method(_spec))
del _spec


def connect(address: str, **kwargs: Any) -> Client:
    """Connect to fairpayd at "HOST:PORT" and return a blocking Client."""
    return Client(address, **kwargs)
