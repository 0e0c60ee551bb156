"""Where a route runs the engine: in the event loop when the server is idle, else a thread.

A blocking route in an ASGI app normally runs in a worker thread, so the event loop
stays free for other requests. That costs two thread switches per request (to the
worker and back), each waiting for the scheduler to wake a sleeping thread: on a
machine with few cores, and with onnxruntime's worker threads spinning after an
embedding, that alone was 0.5 to 3 ms of a ~9 ms search.

A request that finds no other request in flight has nothing to keep the loop free
for, so :func:`run_engine` calls the engine right there, as a library caller would.
When other requests are in flight it hands the call to a worker thread as before, so
under concurrency the loop still accepts and parses requests while searches run. A
request arriving while one runs in the loop waits for that one call at most.

:class:`InFlight` counts the requests being served; it runs in the event loop only,
so the count needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["InFlight", "RequestCount", "run_engine"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class RequestCount:
    """How many HTTP requests the app is serving right now (event loop only)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class InFlight:
    """ASGI middleware keeping a :class:`RequestCount` of the requests being served."""

    def __init__(self, app: ASGIApp, count: RequestCount) -> None:
        self.app = app
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.count.value += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count.value -= 1


async def run_engine(
    request: Request, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> _T:
    """``call(*args, **kwargs)``: in the event loop when ``request`` is the only one.

    Without an :class:`InFlight` count on the app (``app.state.requests``), or with
    other requests in flight, the call runs in a worker thread.
    """
    count: RequestCount | None = getattr(request.app.state, "requests", None)
    if count is not None and count.value <= 1:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)
