"""``multisession consolidate`` and ``multisession retention``, run as the real command.

The store is filled in process (with explicit times, so that ages are known), then the
command runs in a subprocess on it, keyword-only (``--no-embed``) like a cron job on a
machine without the model.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from multisession import MemoryEngine, MemoryInput

from ._console import as_json, cli, console_env, ok

CARD = "4111 1111 1111 1111"
TRIP = [
    "We landed in Tokyo for our Japan trip and checked into a hotel in Shinjuku",
    "On the Japan trip we took the bullet train from Tokyo to Kyoto",
    "In Kyoto we visited the Fushimi Inari shrine during our Japan trip",
]


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return console_env(250)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """rosa: three trip episodes 200 days old (one card payment among older ones), a
    recent episode, an old preference and fact; tom: one old episode."""
    location = tmp_path / "store"
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=200)
    ids: dict[str, str] = {}
    with MemoryEngine(location, embedder=None) as engine:
        trip = engine.add_many(
            "rosa",
            [
                MemoryInput(text, kind="episode", created_at=old + timedelta(hours=5 * i))
                for i, text in enumerate(TRIP)
            ],
        )
        ids.update({f"trip{i}": memory.id for i, memory in enumerate(trip)})
        ids["card"] = engine.add(
            "rosa", f"I paid the gym with my card {CARD}", kind="episode", created_at=old
        ).id
        ids["recent"] = engine.add("rosa", "Lunch with Ines at the market", kind="episode").id
        ids["preference"] = engine.add(
            "rosa", "I prefer tea to coffee", kind="preference", created_at=old
        ).id
        ids["fact"] = engine.add("rosa", "I live in Lisbon", kind="fact", created_at=old).id
        ids["tom"] = engine.add("tom", "Tom went sailing", kind="episode", created_at=old).id
    return location, ids


def test_consolidate_dry_run_then_run_then_nothing(env, store) -> None:  # type: ignore[no-untyped-def]
    location, ids = store
    (dry,) = as_json(cli(env, location, "consolidate --user rosa --dry-run --json"))
    assert dry["dry_run"] is True and dry["written"] == 0
    (group,) = dry["groups"]
    assert group["source_ids"] == [ids["trip0"], ids["trip1"], ids["trip2"]]
    assert group["summary_id"] is None and "Kyoto" in group["content"]

    text = ok(cli(env, location, "consolidate --user rosa --dry-run"))
    assert "would write 1 summaries" in text and "(dry run)" in text

    text = ok(cli(env, location, "consolidate --user rosa"))
    assert "wrote 1 summaries" in text
    (again,) = as_json(cli(env, location, "consolidate --json"))[:1]
    assert again["groups"] == []

    # history shows the provenance of the summary, from either side.
    shown = ok(cli(env, location, f"history rosa {ids['trip1']}"))
    assert "consolidated into summary" in shown
    with MemoryEngine(location, embedder=None) as engine:
        summary_id = engine.get("rosa", ids["trip1"]).consolidated_into
    assert summary_id is not None and summary_id in shown
    shown = ok(cli(env, location, f"history rosa {summary_id}"))
    assert "consolidates 3 memories" in shown and ids["trip2"] in shown


def test_retention_dry_run_lists_then_a_run_deletes_and_prints_counts(env, store) -> None:  # type: ignore[no-untyped-def]
    location, ids = store
    listing = as_json(cli(env, location, "retention --ttl episode=90 --dry-run --json"))
    assert listing["dry_run"] is True and listing["deleted"] == 0
    selected = {item["memory_id"]: item for item in listing["items"]}
    assert set(selected) == {ids["trip0"], ids["trip1"], ids["trip2"], ids["card"], ids["tom"]}
    assert all(item["reason"] == "ttl" and item["age_days"] > 199 for item in selected.values())
    assert selected[ids["card"]]["preview"] is None

    table = ok(cli(env, location, "retention --user rosa --ttl episode=90 --dry-run"))
    assert "4 memories would be deleted" in table
    assert ids["trip0"] in table and "ttl" in table and "Japan trip" in table
    assert CARD not in table and "(sensitive: not shown)" in table
    with MemoryEngine(location, embedder=None) as engine:
        assert engine.count("rosa") == 7  # the dry runs deleted nothing

    printed = ok(cli(env, location, "retention --user rosa --ttl episode=90"))
    assert "deleted 4 memories (by kind: episode 4; by rule: ttl 4)" in printed
    with MemoryEngine(location, embedder=None) as engine:
        left = {memory.id for memory in engine.list("rosa", limit=100)}
        assert left == {ids["recent"], ids["preference"], ids["fact"]}
        assert engine.count("tom") == 1  # only rosa's were asked for
        actions = [entry["action"] for entry in engine._store.audit_log()]
    assert actions.count("retention") == 1
    database = (location / "memory.db").read_bytes()
    assert CARD.encode() not in database and b"Fushimi" not in database


def test_retention_needs_a_policy_and_names_bad_input(env, store) -> None:  # type: ignore[no-untyped-def]
    location, _ = store
    for command, message in (
        ("retention --dry-run", "give a policy"),
        ("retention --ttl episode --dry-run", "--ttl takes KIND=DAYS"),
        ("retention --ttl episode=-3 --dry-run", "positive number of days"),
        ("retention --user nobody --ttl episode=90", "nobody"),
        ("consolidate --user nobody", "nobody"),
        ("consolidate --min-group 1", "min_group"),
    ):
        result = cli(env, location, command)
        assert result.returncode == 1, command
        assert message in result.stderr, (command, result.stderr)
    with MemoryEngine(location, embedder=None) as engine:
        assert engine.count("rosa") == 7 and engine.count("tom") == 1
