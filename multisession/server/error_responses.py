"""The library's errors as HTTP answers: the same message, a status a client can act on.

Every error answer has one shape, ``{"error": {"status", "type", "message"}}``:

=========================================  ======
what happened                              status
=========================================  ======
bad input (the library's InvalidInputError,
ConfigurationError; malformed JSON, wrong
types)                                     400
no key, an unknown or revoked key          401
the key may not do this                    403
unknown user or memory                     404
a memory id already in use                 409
a request body over the size limit         413
over the key's request rate                429
the SQL or vector store cannot be reached,
or a store file is damaged                 503
=========================================  ======
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidInputError,
    MemoryNotFoundError,
    MultisessionError,
    StoreDamagedError,
)

__all__ = ["SQL_DOWN", "ApiError", "error_body", "install_error_handlers", "is_store_outage"]

logger = logging.getLogger("multisession.server")


class ApiError(Exception):
    """An error answer the service makes itself (auth, limits, conflicts)."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"status": status, "type": _TYPES.get(status, "error"), "message": message}}


SQL_DOWN = "the SQL store cannot be reached: check that the database is running, then retry"


def is_store_outage(error: BaseException) -> bool:
    """Whether an error is a database driver failing to reach or use the SQL store."""
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return True
    kind = type(error)
    return kind.__module__.startswith(("psycopg", "sqlite3")) and kind.__name__ in (
        "OperationalError",
        "InterfaceError",
    )


def _answer(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def library_status(error: MultisessionError) -> int:
    """The status of a library error."""
    if isinstance(error, InvalidInputError | ConfigurationError):
        return 400
    if isinstance(error, MemoryNotFoundError):
        return 404
    if isinstance(error, BackendUnavailableError | StoreDamagedError):
        return 503
    return 500


def _owner_free(request: Request, message: str) -> str:
    """The message with the stored owner id put back as the caller's user id."""
    owner = getattr(request.state, "owner", None)
    user = getattr(request.state, "user", None)
    if owner and user is not None:
        message = message.replace(repr(owner), repr(user)).replace(owner, user)
    return message


def _location(loc: Sequence[Any]) -> str:
    # The first element says where (body, query string, path), the rest which field.
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    parts = [str(part) for part in loc]
    return ".".join(parts) if parts else "the request body"


def _validation_message(error: RequestValidationError) -> str:
    problems = []
    for problem in error.errors():
        kind = problem.get("type", "")
        where = _location(problem.get("loc", ()))
        if kind == "json_invalid":
            detail = problem.get("ctx", {}).get("error", "")
            return (
                f"the request body is not valid JSON ({detail}): send a JSON object with "
                "Content-Type: application/json"
            )
        if kind == "missing":
            problems.append(f"{where} is required")
        elif kind == "extra_forbidden":
            problems.append(f"{where} is not a known field: check its spelling")
        else:
            problems.append(f"{where}: {problem.get('msg', 'invalid value')}")
    return "; ".join(problems) or "the request is malformed"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the service's JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return _answer(error.status, error.message, error.headers)

    @app.exception_handler(MultisessionError)
    async def _library_error(request: Request, error: MultisessionError) -> JSONResponse:
        status = library_status(error)
        if status >= 500:
            logger.warning("%s: %s", type(error).__name__, error)
        return _answer(status, _owner_free(request, str(error)))

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(sa.exc.InterfaceError)
    async def _sql_down(request: Request, error: Exception) -> JSONResponse:
        logger.warning("the SQL store cannot be reached: %s", error)
        return _answer(503, SQL_DOWN)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The SQL store's driver, reached directly on the engine's fast read paths.
        if is_store_outage(error):
            logger.warning("the SQL store cannot be reached: %s", error)
            return _answer(503, SQL_DOWN)
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return _answer(500, "internal error: the server's log has the details")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _answer(400, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path} (see /docs)"
        return _answer(error.status_code, message, error.headers)
