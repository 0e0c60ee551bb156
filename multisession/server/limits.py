"""Request limits: a largest body, and a request rate per key.

The body limit is checked twice: a ``Content-Length`` over it is refused before the
body is read, and a body sent without one (chunked) is counted as it arrives and
refused once it passes the limit, so no request holds much more than the limit in
memory.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .error_responses import ApiError, error_body

__all__ = ["BodySizeLimit", "RateLimiter"]


class BodySizeLimit:
    """ASGI middleware answering 413 to a request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"the request body is over the limit of {self.max_bytes} bytes: send fewer "
            "memories per request (or start the server with a larger --max-body-bytes)"
        )

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body(413, self._message())).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        # Read the body here, up to the limit, and hand it on whole: a body over it is
        # refused before the app sees any of it.
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                if message["type"] == "http.disconnect":
                    return
                continue
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second, bursts of ``burst``.

    Args:
        rate: Requests a second each key may make on average; 0 turns the limit off.
        burst: How many requests a key may make at once after being idle.
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        """Take a token for the key, or raise a 429 ApiError saying when to retry."""
        if self.rate <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                wait = (1 - tokens) / self.rate
                self._buckets[key_id] = (tokens, now)
                raise ApiError(
                    429,
                    f"too many requests for this key (limit {self.rate:g} a second): "
                    f"retry in {wait:.2f} s",
                    headers={"Retry-After": str(max(1, round(wait + 0.5)))},
                )
            self._buckets[key_id] = (tokens - 1, now)
