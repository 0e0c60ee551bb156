"""The command line on an encrypted store: the key from ``MULTISESSION_MASTER_KEY``,
what a missing or wrong key does, export, the privacy report and ``rotate-key``."""

from __future__ import annotations

import json
from pathlib import Path

from ._console import Result, console_env, ok
from ._console import cli as run_cli

CARD = "4111 1111 1111 1111"
OLD, NEW = bytes(range(32)).hex(), bytes(range(100, 132)).hex()


def cli(store: Path, command: str, key: str | None) -> Result:
    """``multisession --store STORE --no-embed COMMAND`` with this key in the environment."""
    return run_cli(console_env(MULTISESSION_MASTER_KEY=key), store, command)


def contents(store: Path, key: str | None) -> set[str]:
    listed = json.loads(ok(cli(store, "list rosa --json", key)))
    return {memory["content"] for memory in listed["memories"]}


def test_an_encrypted_store_on_the_command_line(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok(cli(store, f"add rosa 'my card is {CARD}'", OLD))
    ok(cli(store, "add rosa 'I like long walks'", OLD))
    assert CARD.encode() not in (store / "memory.db").read_bytes()
    assert contents(store, OLD) == {f"my card is {CARD}", "I like long walks"}
    exported = ok(cli(store, "export rosa", OLD))
    assert CARD in exported
    report = json.loads(ok(cli(store, "privacy report --user rosa --json", OLD)))
    assert report["memories"]["by_class"]["sensitive"] == 1 and CARD not in str(report)

    # Without the key: the plain memory only, a warning, and writes refused.
    missing = cli(store, "list rosa --json", None)
    listed = json.loads(ok(missing))
    assert [m["content"] for m in listed["memories"]] == ["I like long walks"]
    assert listed["total"] == 1
    assert "MULTISESSION_MASTER_KEY" in missing.stderr
    refused = cli(store, "add rosa 'I like tea'", None)
    assert refused.returncode != 0 and "read-only" in refused.stderr
    # A wrong key: refused before anything is read or changed.
    wrong = cli(store, "list rosa --json", NEW)
    assert wrong.returncode != 0 and "wrong master key" in wrong.stderr

    key_file = tmp_path / "new.key"
    key_file.write_text(NEW + "\n")
    rotated = ok(cli(store, f"privacy rotate-key --new-key-file {key_file}", OLD))
    assert "re-wrapped 1 data keys" in rotated
    assert contents(store, NEW) == {f"my card is {CARD}", "I like long walks"}
    assert "wrong master key" in cli(store, "list rosa --json", OLD).stderr
