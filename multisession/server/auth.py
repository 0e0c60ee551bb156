"""Who is asking: the API key of a request, and what it lets the request reach.

A request names its key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
:class:`Caller` turns a user id of the request into the owner id the engine stores
(:func:`~multisession.server.tenancy.owner_id`) after checking the key may reach that
user, so no route ever hands the engine an id that is not its caller's tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from .error_responses import ApiError
from .keys import ApiKey, KeyStore
from .limits import RateLimiter
from .tenancy import owner_id

__all__ = [
    "BROWSER_COOKIE",
    "Caller",
    "authenticate",
    "authenticate_browser",
    "authenticate_request",
    "check_token",
]

_HOW = "send it as 'Authorization: Bearer <key>' (make one with `multisession keys create`)"


@dataclass(frozen=True)
class Caller:
    """The key a request was made with."""

    key: ApiKey

    @property
    def tenant(self) -> str:
        return self.key.tenant

    def owner(self, request: Request, user_id: str, *, write: bool = False) -> str:
        """The stored owner id of the tenant's ``user_id``, if the key may reach it.

        Raises:
            ApiError: 403 when the key is bound to other users, or is read-only and
                ``write`` is true; InvalidInputError for a malformed user id.
        """
        owner = owner_id(self.tenant, user_id)
        if self.key.users is not None and user_id not in self.key.users:
            raise ApiError(403, f"this API key may not reach user {user_id!r}")
        if write and self.key.read_only:
            raise ApiError(403, "this API key is read-only: use a key made without --read-only")
        # For error messages: the library names the owner, the caller knows the user.
        request.state.owner = owner
        request.state.user = user_id
        return owner

    def require_tenant_wide(self, what: str) -> None:
        """Refuse a key bound to some users an operation over the whole tenant."""
        if self.key.users is not None:
            raise ApiError(
                403, f"{what} needs a key for all of the tenant's users, not one bound to some"
            )

    def require_write(self) -> None:
        if self.key.read_only:
            raise ApiError(403, "this API key is read-only: use a key made without --read-only")


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                401, f"the Authorization header is not 'Bearer <key>': {_HOW}", headers=_CHALLENGE
            )
        return value.strip()
    return request.headers.get("x-api-key")


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


#: The memory browser keeps the key in this cookie (HttpOnly, SameSite=Strict).
BROWSER_COOKIE = "multisession_key"


def authenticate(request: Request) -> Caller:
    """The caller of a request, or a 401 (429 over its rate).

    The key store and the rate limiter are the app's (``app.state``).
    """
    return check_token(request, _token(request))


def authenticate_browser(request: Request) -> Caller:
    """The caller of a memory browser page: the key from its cookie.

    Only the browser's pages read the cookie: the JSON API never acts on a cookie, so
    another site cannot make a signed-in browser call it.
    """
    return check_token(request, request.cookies.get(BROWSER_COOKIE))


async def authenticate_request(request: Request) -> Caller:
    """:func:`authenticate` as an async dependency, for the JSON API's routes.

    A key verified within the key store's ``cache_seconds`` is checked in the event
    loop, without the hop to a worker thread a plain function dependency costs; any
    other key is read from the table in a worker thread, as before.
    """
    token = _token(request)
    if token is None:
        raise ApiError(401, f"this endpoint needs an API key: {_HOW}", headers=_CHALLENGE)
    keys: KeyStore = request.app.state.keys
    key = keys.cached(token)
    if key is None:
        key = await run_in_threadpool(keys.authenticate, token)
    return _caller(request, key)


def check_token(request: Request, token: str | None) -> Caller:
    """The caller a token names, or a 401 (429 over its rate)."""
    if token is None:
        raise ApiError(401, f"this endpoint needs an API key: {_HOW}", headers=_CHALLENGE)
    keys: KeyStore = request.app.state.keys
    return _caller(request, keys.authenticate(token))


def _caller(request: Request, key: ApiKey | None) -> Caller:
    if key is None:
        raise ApiError(401, f"unknown API key: {_HOW}", headers=_CHALLENGE)
    if key.revoked_at is not None:
        raise ApiError(
            401,
            f"the API key {key.key_id} was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC: "
            "ask for a new one",
            headers=_CHALLENGE,
        )
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(key.key_id)
    return Caller(key)
