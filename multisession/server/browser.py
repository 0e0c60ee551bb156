"""The memory browser, ``/ui``: the REST API's views as server-rendered pages.

For an operator or a user with a key: pick a user; list and search memories with their
score breakdowns and dates; open a memory's history and source conversation; edit or
delete it; export the user; delete the user after typing its id, and read the receipt.
Each page calls the same route functions as the JSON API (:mod:`.routes`), so the
browser has no logic of its own either. Pages are plain HTML forms that work without
script; ``static/browser.js`` only asks for confirmation. Nothing is loaded from
another site, so it works offline.

The key is given once on the sign-in page and kept in an HttpOnly, SameSite=Strict
cookie that only these pages read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..errors import MultisessionError
from . import routes
from .auth import BROWSER_COOKIE, Caller, authenticate_browser, check_token
from .error_responses import ApiError, library_status
from .models import MemoryChangesIn, SearchIn
from .tenancy import owner_id

__all__ = ["browser", "mount_browser"]

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")
browser = APIRouter(prefix="/ui", include_in_schema=False)


def mount_browser(app: Any) -> None:
    """Add the browser's pages and its static files to the app."""
    app.include_router(browser)
    app.mount("/ui/static", StaticFiles(directory=_HERE / "static"), name="ui_static")


def _page(
    request: Request,
    template: str,
    caller: Caller | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("notice", request.query_params.get("notice"))
    return templates.TemplateResponse(
        request,
        template,
        {
            "tenant": caller.tenant if caller else None,
            "read_only": caller.key.read_only if caller else True,
            **context,
        },
        status_code=status,
    )


def _guarded(request: Request, render: Callable[[Caller], Response]) -> Response:
    """Run a page for the signed-in caller; errors become pages, no key the sign-in."""
    try:
        caller = authenticate_browser(request)
    except ApiError as error:
        if error.status == 401:
            return _page(request, "login.html", problem=error.message, status=401)
        return _page(request, "error.html", status=error.status, heading=error.message)
    try:
        return render(caller)
    except ApiError as error:
        return _page(request, "error.html", caller, status=error.status, heading=error.message)
    except MultisessionError as error:
        message = str(error)
        owner = getattr(request.state, "owner", None)
        if owner:
            message = message.replace(owner, request.state.user)
        return _page(request, "error.html", caller, status=library_status(error), heading=message)


def _to(request: Request, name: str, notice: str | None = None, **params: str) -> Response:
    url = str(request.url_for(name, **params))
    if notice:
        from urllib.parse import urlencode

        url += "?" + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


# -- signing in ----------------------------------------------------------------------------


@browser.get("", name="ui_home")
def home(request: Request) -> Response:
    return _to(request, "ui_users")


@browser.post("/login", name="ui_login")
def login(request: Request, key: Annotated[str, Form()]) -> Response:
    try:
        check_token(request, key.strip())
    except ApiError as error:
        return _page(request, "login.html", problem=error.message, status=error.status)
    response = _to(request, "ui_users")
    response.set_cookie(BROWSER_COOKIE, key.strip(), httponly=True, samesite="strict", path="/ui")
    return response


@browser.post("/logout", name="ui_logout")
def logout(request: Request) -> Response:
    response = _to(request, "ui_users")
    response.delete_cookie(BROWSER_COOKIE, path="/ui")
    return response


# -- pages ---------------------------------------------------------------------------------


@browser.get("/users", name="ui_users")
def users(request: Request) -> Response:
    def render(caller: Caller) -> Response:
        if caller.key.users is None:
            found = routes.list_users(caller, request)["users"]
            note = "The tenant has no users yet."
        else:
            found = sorted(caller.key.users)
            note = ""
        return _page(request, "users.html", caller, users=found, users_note=note)

    return _guarded(request, render)


@browser.get("/open", name="ui_open_user")
def open_user(request: Request, user: str = "") -> Response:
    def render(caller: Caller) -> Response:
        owner_id(caller.tenant, user)  # a malformed id is a 400 page, not a redirect
        return _to(request, "ui_user", user_id=user)

    return _guarded(request, render)


@browser.get("/users/{user_id}", name="ui_user")
def user(request: Request, user_id: str, q: str = "", offset: int = 0) -> Response:
    limit = 50

    def render(caller: Caller) -> Response:
        summary = routes.user_summary(user_id, caller, request)
        context: dict[str, Any] = {"user_id": user_id, "summary": summary, "query": q}
        if q.strip():
            body = SearchIn(query=q, k=20)
            context["hits"] = routes.search_hits(user_id, body, caller, request)["hits"]
        else:
            page = routes.list_memories(user_id, caller, request, limit=limit, offset=offset)
            context.update(
                memories=page["memories"], total=page["total"], offset=offset, limit=limit
            )
        return _page(request, "user.html", caller, **context)

    return _guarded(request, render)


@browser.get("/users/{user_id}/memories/{memory_id}", name="ui_memory")
def memory(request: Request, user_id: str, memory_id: str) -> Response:
    def render(caller: Caller) -> Response:
        found = routes.memory_history(user_id, memory_id, caller, request)
        return _page(request, "memory.html", caller, user_id=user_id, **found)

    return _guarded(request, render)


@browser.post("/users/{user_id}/memories/{memory_id}/edit", name="ui_edit_memory")
def edit_memory(
    request: Request,
    user_id: str,
    memory_id: str,
    content: Annotated[str, Form()],
    kind: Annotated[str, Form()],
) -> Response:
    def render(caller: Caller) -> Response:
        changes = MemoryChangesIn(content=content, kind=kind)
        routes.update_memory(user_id, memory_id, changes, caller, request)
        return _to(request, "ui_memory", "Saved.", user_id=user_id, memory_id=memory_id)

    return _guarded(request, render)


@browser.post("/users/{user_id}/memories/{memory_id}/delete", name="ui_delete_memory")
def delete_memory(request: Request, user_id: str, memory_id: str) -> Response:
    def render(caller: Caller) -> Response:
        routes.delete_memory(user_id, memory_id, caller, request)
        return _to(request, "ui_user", "Memory deleted.", user_id=user_id)

    return _guarded(request, render)


@browser.get("/users/{user_id}/export", name="ui_export")
def export(request: Request, user_id: str) -> Response:
    def render(caller: Caller) -> Response:
        exported = routes.export_user(user_id, caller, request)
        return Response(
            json.dumps(exported, indent=2, ensure_ascii=False),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="export.json"'},
        )

    return _guarded(request, render)


@browser.post("/users/{user_id}/delete", name="ui_delete_user")
def delete_user(request: Request, user_id: str, confirm: Annotated[str, Form()] = "") -> Response:
    def render(caller: Caller) -> Response:
        if confirm != user_id:
            raise ApiError(400, "the confirmation did not match the user id: nothing was deleted")
        receipt = routes.delete_user(user_id, caller, request)
        return _page(request, "receipt.html", caller, receipt=receipt)

    return _guarded(request, render)
