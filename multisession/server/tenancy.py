"""Tenants in the owner id: how a tenant's users are kept apart in storage.

The engine keeps every user's memories, conversations and vectors under one owner id
and never lets a call for one owner see another's. The service gives each tenant its
own users by making the tenant part of that owner id: the user ``alice`` of the tenant
``acme`` is stored as the owner ``acme:alice``. Tenant names cannot hold the separator,
so the first ``:`` ends the tenant and the encoding is reversible and collision-free:
two different (tenant, user) pairs never give the same owner, whatever the user id
holds (colons included). Isolation is therefore the engine's own per-owner isolation,
not a filter applied to results afterwards.

A library user whose id has no ``:`` (or whose prefix is not a valid tenant name)
belongs to no tenant and cannot be reached through the service.
"""

from __future__ import annotations

import re

from .._validation import MAX_ID_LENGTH, check_user_id
from ..errors import InvalidInputError

__all__ = ["MAX_TENANT_LENGTH", "SEPARATOR", "check_tenant", "owner_id", "split_owner"]

SEPARATOR = ":"
MAX_TENANT_LENGTH = 64
_TENANT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def check_tenant(tenant: object) -> str:
    """The tenant name, or InvalidInputError naming what a tenant may hold."""
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise InvalidInputError(
            f"tenant must be 1 to {MAX_TENANT_LENGTH} characters of lowercase letters, digits, "
            f"'_', '.' or '-', starting with a letter or digit; got {tenant!r}"
        )
    return tenant


def owner_id(tenant: str, user_id: object) -> str:
    """The owner id that stores ``user_id`` of ``tenant``.

    Example:
        >>> owner_id("acme", "alice")
        'acme:alice'
        >>> owner_id("acme", "slack:U42")
        'acme:slack:U42'

    Raises:
        InvalidInputError: The tenant or the user id is malformed, or the two together
            are longer than an owner id may be.
    """
    tenant = check_tenant(tenant)
    user = check_user_id(user_id)
    limit = MAX_ID_LENGTH - len(tenant) - len(SEPARATOR)
    if len(user) > limit:
        raise InvalidInputError(
            f"user_id has {len(user)} characters, over the service's limit of {limit} for "
            f"tenant {tenant!r}: use a shorter id (e.g. a hash of it)"
        )
    return f"{tenant}{SEPARATOR}{user}"


def split_owner(owner: str) -> tuple[str, str] | None:
    """The (tenant, user) an owner id encodes, or None for an owner of no tenant.

    Example:
        >>> split_owner("acme:slack:U42")
        ('acme', 'slack:U42')
        >>> split_owner("alice") is None
        True
    """
    tenant, separator, user = owner.partition(SEPARATOR)
    if not separator or not user or not _TENANT.fullmatch(tenant):
        return None
    return tenant, user
