"""The memory service: the engine over HTTP (REST, MCP), with metrics and a browser.

Nothing here decides what to remember or how to search: every route calls the engine.
What the service adds is who may ask (API keys bound to a tenant), how the tenant's
users are kept apart in storage (:mod:`.tenancy`), and errors as JSON with statuses.
Needs the ``server`` extra: ``pip install 'multisession[server]'``.
"""

from .app import ServerSettings, create_app
from .keys import ApiKey, KeyStore, NewKey
from .tenancy import owner_id, split_owner

__all__ = [
    "ApiKey",
    "KeyStore",
    "NewKey",
    "ServerSettings",
    "create_app",
    "owner_id",
    "split_owner",
]
