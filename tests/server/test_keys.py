"""API keys through ``multisession keys``: made once, stored hashed, listed, revoked."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from multisession.server.keys import KeyStore

from .conftest import run_cli


def test_keys_are_made_listed_and_revoked(tmp_path: Path) -> None:
    store = tmp_path / "store"
    made = run_cli(
        "--store",
        store,
        "keys",
        "create",
        "--tenant",
        "acme",
        "--user",
        "alice",
        "--read-only",
        "--label",
        "support bot",
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ms_") and "shown once" in made.stderr
    with sqlite3.connect(store / "memory.db") as db:
        [(key_id, secret_hash, tenant, users)] = db.execute(
            "SELECT key_id, secret_hash, tenant, users FROM api_keys"
        ).fetchall()
    assert token.split("_", 2)[2] not in secret_hash and len(secret_hash) == 64
    assert (tenant, json.loads(users)) == ("acme", ["alice"])

    listed = run_cli("--store", store, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and "support bot" in listed.stdout and "read" in listed.stdout
    assert token not in listed.stdout

    revoked = run_cli("--store", store, "keys", "revoke", key_id, "--json")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    keys = KeyStore(f"sqlite:///{store / 'memory.db'}")
    try:
        found = keys.authenticate(token)
        assert found is not None and found.revoked
        assert keys.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    finally:
        keys.close()


def test_bad_key_commands_say_what_to_fix(tmp_path: Path) -> None:
    store = tmp_path / "store"
    bad_tenant = run_cli("--store", store, "keys", "create", "--tenant", "Acme Corp")
    assert bad_tenant.returncode == 1 and "tenant must be" in bad_tenant.stderr
    missing = run_cli("--store", tmp_path / "nowhere", "keys", "list")
    assert missing.returncode == 1 and "no store at" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
    run_cli("--store", store, "keys", "create", "--tenant", "acme")
    unknown = run_cli("--store", store, "keys", "revoke", "0123456789abcdef")
    assert unknown.returncode == 1 and "no API key 0123456789abcdef" in unknown.stderr
    malformed = run_cli("--store", store, "keys", "revoke", "xyz")
    assert malformed.returncode == 1 and "malformed key id" in malformed.stderr


def test_the_store_opens_after_keys_were_made_first(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_cli("--store", store, "keys", "create", "--tenant", "acme").returncode == 0
    added = run_cli("--store", store, "--no-embed", "add", "acme:alice", "likes tea")
    assert added.returncode == 0, added.stderr


def test_serve_and_mcp_refuse_bad_options_before_starting(tmp_path: Path) -> None:
    store = tmp_path / "store"
    threads = run_cli("--store", store, "serve", "--embedder-threads", "0")
    assert threads.returncode == 1 and "threads" in threads.stderr
    tenant = run_cli("--store", store, "mcp", "--tenant", "Bad Tenant", "--user", "alice")
    assert tenant.returncode == 1 and "tenant must be" in tenant.stderr
