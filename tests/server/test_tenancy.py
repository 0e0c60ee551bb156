"""The owner id encoding: reversible, and no two (tenant, user) pairs share an owner."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multisession import InvalidInputError
from multisession.server.tenancy import SEPARATOR, owner_id, split_owner

tenants = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
# User ids of any printable text, the separator included, as the engine accepts them.
users = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.just(SEPARATOR),
    min_size=1,
    max_size=40,
).filter(lambda user: bool(user.strip()))


@given(tenants, users)
def test_an_owner_id_gives_back_its_tenant_and_user(tenant: str, user: str) -> None:
    assert split_owner(owner_id(tenant, user)) == (tenant, user)


@given(tenants, users, tenants, users)
def test_different_pairs_never_share_an_owner_id(
    tenant: str, user: str, other_tenant: str, other_user: str
) -> None:
    if (tenant, user) != (other_tenant, other_user):
        assert owner_id(tenant, user) != owner_id(other_tenant, other_user)


@given(tenants, tenants, users)
def test_no_user_of_one_tenant_encodes_to_a_user_of_another(
    tenant: str, other: str, user: str
) -> None:
    # A user id that spells out another tenant's prefix stays in its own tenant.
    crafted = f"{other}{SEPARATOR}{user}"
    owner = owner_id(tenant, crafted)
    assert split_owner(owner) == (tenant, crafted)
    if tenant != other:
        assert owner != owner_id(other, user)


@pytest.mark.parametrize("tenant", ["", "Acme", "a:b", "-x", "a b", "x" * 65, None, 3])
def test_a_malformed_tenant_is_refused(tenant: object) -> None:
    with pytest.raises(InvalidInputError, match="tenant must be"):
        owner_id(tenant, "alice")  # type: ignore[arg-type]


@pytest.mark.parametrize("owner", ["alice", ":alice", "Acme:alice", "acme:", "a b:c"])
def test_owners_of_no_tenant_are_not_split(owner: str) -> None:
    assert split_owner(owner) is None
