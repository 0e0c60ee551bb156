"""The ASGI app of ``multisession serve``: the REST API, health, metrics and the browser.

:func:`create_app` wires an open :class:`~multisession.engine.MemoryEngine` and a
:class:`~multisession.server.keys.KeyStore` into a FastAPI app; it opens and closes
nothing, so the caller (the CLI, a test, an app that mounts it) owns both.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from .. import __version__
from ..engine import MemoryEngine
from ..errors import MultisessionError
from ..metrics import prometheus_text
from .auth import Caller, authenticate
from .browser import mount_browser
from .dispatch import InFlight, RequestCount
from .error_responses import error_body, install_error_handlers, is_store_outage
from .keys import KeyStore
from .limits import BodySizeLimit, RateLimiter
from .routes import router

__all__ = ["ServerSettings", "create_app"]

_READINESS_PROBE = "readiness-probe"


@dataclass(frozen=True)
class ServerSettings:
    """How the service limits its callers.

    Attributes:
        max_body_bytes: Largest request body accepted (413 above it).
        rate_limit: Requests a second each key may make on average (429 above it);
            0 for no limit.
        rate_burst: Requests a key may make at once after being idle (default: the rate).
    """

    max_body_bytes: int = 1_000_000
    rate_limit: float = 0.0
    rate_burst: int | None = None


_DESCRIPTION = """\
Persistent memory for AI apps, over HTTP: store and search a user's memories, record
chat turns, build a budgeted prompt, and export or delete a user.

Every `/v1` endpoint needs an API key (`Authorization: Bearer <key>`), made with
`multisession keys create --tenant T`. A key reaches the users of its tenant only.
Errors are JSON: `{"error": {"status", "type", "message"}}`.
"""


def create_app(
    engine: MemoryEngine, keys: KeyStore, settings: ServerSettings | None = None
) -> FastAPI:
    """The service's app over an open engine and key store.

    Example:
        >>> import uvicorn  # doctest: +SKIP
        >>> with MemoryEngine("./store") as engine:  # doctest: +SKIP
        ...     keys = KeyStore("sqlite:///./store/memory.db")
        ...     uvicorn.run(create_app(engine, keys), port=8000)
    """
    settings = settings or ServerSettings()
    app = FastAPI(
        title="multisession",
        version=__version__,
        description=_DESCRIPTION,
        # The interactive docs load their scripts from a CDN; the service works offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.keys = keys
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    app.state.requests = RequestCount()
    install_error_handlers(app)
    app.include_router(router)
    mount_browser(app)

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        """The process is up (no key needed)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"], response_model=None)
    def readiness(request: Request) -> dict[str, str] | JSONResponse:
        """The SQL store answers (no key needed); 503 when it does not."""
        try:
            engine.has_user(_READINESS_PROBE)
        except Exception as error:
            if not isinstance(error, MultisessionError | sa.exc.SQLAlchemyError) and not (
                is_store_outage(error)
            ):
                raise
            message = f"the SQL store cannot be reached ({type(error).__name__})"
            return JSONResponse(error_body(503, message), status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics(request: Request) -> PlainTextResponse:
        """The engine's metrics in Prometheus' text format (any valid key).

        Only store-wide numbers (counts, latencies), never a user id or content.
        """
        caller: Caller = authenticate(request)
        del caller
        return PlainTextResponse(
            prometheus_text(engine), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InFlight, count=app.state.requests)
    return app
