"""Blocking work in a worker thread, and coroutines it needs run on the caller's loop.

The engine's async methods run its blocking code (SQL, Chroma, numpy) in a worker thread.
Deep inside that code the engine may call the app's language model, and the app's model
may be async (an ``async def``, a LangChain chat model's ``ainvoke``, a LlamaIndex LLM's
``acomplete``). Such a model belongs on the event loop that awaits the engine: its client
(an HTTP session, a rate limiter) is bound to that loop, and a second loop in the worker
would break it. :func:`to_thread` therefore tells the worker which loop awaits it, and
:func:`run_coroutine` schedules the model's coroutine there and waits for it in the
worker, while the loop stays free for the coroutine and every other request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

__all__ = ["awaited_by_a_loop", "run_coroutine", "to_thread"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: The event loop awaiting the worker thread this context runs in, if any.
_caller_loop: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "multisession_caller_loop", default=None
)

#: How often a worker waiting for the caller's loop checks that the loop still runs.
_POLL_SECONDS = 0.5


async def to_thread(func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """:func:`asyncio.to_thread`, telling ``func`` which loop awaits it.

    Coroutines that ``func`` needs (an async language model) then run on this loop
    through :func:`run_coroutine`, instead of in a loop of their own.
    """
    token = _caller_loop.set(asyncio.get_running_loop())
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    finally:
        _caller_loop.reset(token)


def awaited_by_a_loop() -> bool:
    """Whether this code runs in a worker thread that an event loop awaits.

    True inside :func:`to_thread`'s ``func``; False on a plain sync call.
    """
    loop = _caller_loop.get()
    return loop is not None and loop.is_running() and not _runs_here(loop)


def run_coroutine(make: Callable[[], Awaitable[_T]]) -> _T:
    """Run the awaitable ``make()`` returns, from sync code, and return its result.

    In a worker thread of :func:`to_thread`, on the loop that awaits the worker (the
    worker waits; the loop stays free). Elsewhere in a loop of its own: in this thread
    when no loop runs here, otherwise in a helper thread (a sync method called from
    async code must not start a loop inside the running one).

    Raises:
        RuntimeError: The awaiting loop stopped before the coroutine finished.
        Exception: Whatever the coroutine raises.
    """
    loop = _caller_loop.get()
    if loop is not None and loop.is_running() and not _runs_here(loop):
        future = asyncio.run_coroutine_threadsafe(_await(make), loop)
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if not loop.is_running():
                    future.cancel()
                    raise RuntimeError("the event loop awaiting this call stopped") from None
    if not _loop_runs_here():
        return asyncio.run(_await(make))
    with concurrent.futures.ThreadPoolExecutor(1) as helper:
        return helper.submit(asyncio.run, _await(make)).result()


async def _await(make: Callable[[], Awaitable[_T]]) -> _T:
    return await make()


def _runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _loop_runs_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
