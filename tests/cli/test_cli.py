"""The ``multisession`` console script, run for real in subprocesses on stores in tmp_path."""

from __future__ import annotations

import doctest
import hashlib
import json
import os
import pty
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ._console import CLI, Result, as_json, cli, console_env, ok, run

MEMORY_ID = re.compile(r"[0-9a-f]{32}")

ALICE_MEMORIES = [
    {"content": "I am allergic to peanuts", "created_at": "2026-01-05T10:00:00Z"},
    {
        "content": "I prefer short answers with code examples",
        "kind": "preference",
        "created_at": "2026-01-06T10:00:00Z",
        "metadata": {"source": "settings"},
    },
    {"content": "I work at Acme Corp as a data engineer", "created_at": "2026-01-07T10:00:00Z"},
    *(
        {
            "content": f"Gardening note {day}: the tomatoes need water",
            "kind": "episode",
            "created_at": f"2026-01-{day:02d}T08:00:00Z",
        }
        for day in range(8, 30)
    ),
]
TRIP = [
    {
        "role": "user",
        "content": "I'm planning a trip to Lisbon in May. I love seafood.",
        "timestamp": "2026-02-01T09:00:00+01:00",
    },
    {"role": "assistant", "content": "Great choice, noted!", "timestamp": "2026-02-01T08:00:30Z"},
    {
        "role": "user",
        "content": "We decided to fly on May 3. Remind me to book the hotel.",
        "timestamp": "2026-02-01T08:05:00Z",
    },
]
BOB = {"content": "I work at Globex", "user_id": "bob", "created_at": "2026-01-05T11:00:00Z"}


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """The test session's environment (sandboxed HOME and caches), wide tables."""
    return console_env(200)


def one_error_line(result: Result) -> str:
    """The single ``error: ...`` line of a failed command (exit status 1)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def alice_store(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> dict[str, Any]:
    """A store filled by one import (default embedder): alice's memories and a trip chat, bob."""
    directory = tmp_path_factory.mktemp("alice")
    source = write_jsonl(
        directory / "history.jsonl",
        [*ALICE_MEMORIES, *({**m, "conversation_id": "trip"} for m in TRIP), BOB],
    )
    store = directory / "store"
    summary = as_json(cli(env, store, f"import {source} --user alice --json", embed=True))
    exported = as_json(run(env, "export", "alice", "--store", store, "--no-embed"))
    return {"store": store, "summary": summary, "export": exported}


# -- each command -----------------------------------------------------------------------


def test_help_lists_commands_without_loading_the_vector_stack(env):
    assert ok(run(env, "--version")) == "multisession 0.1.0\n"
    usage = ok(run(env, "--help"))
    for command in ("add", "search", "list", "show", "export", "forget", "stats", "import"):
        assert f"    {command} " in usage
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, multisession.cli; "
            "print(sorted(m for m in ('chromadb', 'onnxruntime') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_import_stores_memories_messages_and_extracted_memories(alice_store):
    assert alice_store["summary"] == {
        "lines": len(ALICE_MEMORIES) + len(TRIP) + 1,
        "imported": len(ALICE_MEMORIES) + len(TRIP) + 1,
        "skipped": 0,
        "rejected": 0,
        "memories": len(ALICE_MEMORIES) + 1,
        "messages": len(TRIP),
        "extracted": 3,
        "rejections": [],
    }
    exported = alice_store["export"]
    by_content = {memory["content"]: memory for memory in exported["memories"]}
    # Memory lines keep their own times, kinds and metadata.
    assert by_content["I am allergic to peanuts"]["created_at"] == "2026-01-05T10:00:00+00:00"
    preference = by_content["I prefer short answers with code examples"]
    assert (preference["kind"], preference["metadata"]) == ("preference", {"source": "settings"})
    # Memories extracted from the chat carry the time of the message they came from.
    seafood = by_content["I love seafood"]
    assert seafood["kind"] == "preference"
    assert seafood["conversation_id"] == "trip"
    assert seafood["created_at"] == "2026-02-01T08:00:00+00:00"
    # What record_exchange notes of an extracted memory, and the message it came from.
    assert seafood["metadata"]["source"] == "exchange"
    assert MEMORY_ID.fullmatch(seafood["metadata"]["message_import_id"])
    assert by_content["We decided to fly on May 3"]["created_at"] == "2026-02-01T08:05:00+00:00"
    assert "I work at Globex" not in by_content  # bob's line named its own user
    assert len(exported["memories"]) == len(ALICE_MEMORIES) + 3


def test_export_holds_the_imported_conversation_with_its_times(alice_store, env, tmp_path):
    target = tmp_path / "alice.json"
    result = cli(env, alice_store["store"], f"export alice -o {target}")
    assert ok(result) == ""
    assert f"to {target}" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["alice.json"]  # no temporary file
    exported = json.loads(target.read_text(encoding="utf-8"))
    assert exported["user_id"] == "alice"
    assert {k: v for k, v in exported.items() if k != "exported_at"} == {
        k: v for k, v in alice_store["export"].items() if k != "exported_at"
    }
    (trip,) = exported["conversations"]
    assert trip["conversation_id"] == "trip"
    assert [(m["role"], m["content"], m["created_at"]) for m in trip["messages"]] == [
        ("user", TRIP[0]["content"], "2026-02-01T08:00:00+00:00"),
        ("assistant", TRIP[1]["content"], "2026-02-01T08:00:30+00:00"),
        ("user", TRIP[2]["content"], "2026-02-01T08:05:00+00:00"),
    ]
    assert trip["created_at"] == "2026-02-01T08:00:00+00:00"
    assert trip["last_interaction_at"] == "2026-02-01T08:05:00+00:00"
    assert trip["decisions"] == ["We decided to fly on May 3."]
    assert trip["action_items"] == [{"text": "Remind me to book the hotel.", "done": False}]


def test_search_json_gives_each_hit_its_score_breakdown(alice_store, env):
    hits = as_json(
        cli(env, alice_store["store"], "search alice 'peanut allergy' -k 3 --json", embed=True)
    )
    # At most 3; the default relevance floor leaves out memories with no evidence.
    assert 2 <= len(hits) <= 3
    top = hits[0]
    assert top["memory"]["content"] == "I am allergic to peanuts"
    breakdown = top["breakdown"]
    assert breakdown["bm25_rank"] == 1 and breakdown["vector_rank"] == 1
    assert breakdown["vector_similarity"] > 0.5
    assert breakdown["final_score"] == pytest.approx(
        breakdown["fused_score"] * breakdown["temporal_multiplier"]
    )
    scores = [hit["breakdown"]["final_score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(hit["memory"]["user_id"] == "alice" for hit in hits)
    assert all(hit["memory"]["access_count"] == 0 for hit in hits)  # looking changes nothing


def test_search_table_shows_the_breakdown(alice_store, env):
    table = ok(cli(env, alice_store["store"], "search alice 'where do I work?'", embed=True))
    header = next(line for line in table.splitlines() if "final" in line)
    for column in ("final", "fused", "bm25", "vector", "recency", "content", "kind", "age"):
        assert column in header
    row = next(line for line in table.splitlines() if "Acme Corp" in line)
    assert re.search(r"#\d+ 0\.\d{3}", row)  # vector rank and similarity
    assert " fact " in row


def test_search_filters_by_kind_conversation_and_time(alice_store, env):
    store = alice_store["store"]
    query = "search alice 'short answers, seafood and code' --kind preference --json"
    assert {hit["memory"]["content"] for hit in as_json(cli(env, store, query))} == {
        "I prefer short answers with code examples",
        "I love seafood",
    }
    query = (
        "search alice 'fly to Lisbon for seafood in May' --conversation trip "
        "--since 2026-02-01T08:01:00Z --json"
    )
    hits = as_json(cli(env, store, query))
    assert [hit["memory"]["content"] for hit in hits] == ["We decided to fly on May 3"]


def test_list_pages_through_the_memories(alice_store, env):
    store = alice_store["store"]
    oldest_first = [memory["id"] for memory in alice_store["export"]["memories"]]
    page = as_json(cli(env, store, "list alice --limit 10 --page 2 --oldest-first --json"))
    assert (page["total"], page["page"], page["offset"]) == (len(oldest_first), 2, 10)
    assert [memory["id"] for memory in page["memories"]] == oldest_first[10:20]

    text = ok(cli(env, store, "list alice --limit 10 --page 3 --kind episode"))
    episodes = [m for m in alice_store["export"]["memories"] if m["kind"] == "episode"]
    assert text.splitlines()[-1] == f"page 3, showing 21–{len(episodes)} of {len(episodes)}"
    on_page_3 = sorted(episodes, key=lambda m: m["created_at"], reverse=True)[20]
    assert on_page_3["content"] in text
    assert on_page_3["id"] in text
    assert "UTC" in text
    empty = ok(cli(env, store, "list alice --limit 10 --page 9 --kind episode"))
    assert empty == f"page 9, showing none of {len(episodes)} (3 pages of 10)\n"


def test_show_prints_every_field(alice_store, env):
    store = alice_store["store"]
    memory = next(m for m in alice_store["export"]["memories"] if m["kind"] == "preference")
    assert as_json(cli(env, store, f"show alice {memory['id']} --json")) == memory
    text = ok(cli(env, store, f"show alice {memory['id']}"))
    for expected in (
        memory["id"],
        memory["content"],
        "preference",
        "2026-01-06 10:00:00 UTC",
        '{"source": "settings"}',
        "access count",
    ):
        assert expected in text


def test_stats_counts_users_memories_vectors_and_bytes(alice_store, env):
    stats = as_json(cli(env, alice_store["store"], "stats --json", embed=True))
    assert stats["users"] == 2
    assert stats["memories"] == len(alice_store["export"]["memories"]) + 1
    assert (stats["pending_vectors"], stats["buffered_vectors"]) == (0, 0)
    assert stats["embedder"] == "all-MiniLM-L6-v2 (dimension 384)"
    assert stats["disk"]["memory_db_bytes"] > 10_000
    # Every user is searched exactly from SQL: Chroma holds only the index's marker.
    assert stats["disk"]["chroma_bytes"] < 1_000
    # --no-embed changes nothing: stats reads what the store records.
    text = ok(cli(env, alice_store["store"], "stats"))
    assert re.search(r"memories\s+│ " + str(stats["memories"]) + " ", text)
    assert re.search(r"memory\.db \(\+wal\)\s+│ \d+\.\d KiB", text)
    assert re.search(r"embedder\s+│ all-MiniLM-L6-v2 \(dimension 384\)", text)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reading_a_keyword_only_store_loads_no_vectors_and_writes_nothing(env, tmp_path):
    store = tmp_path / "store"
    tomatoes = ok(cli(env, store, "add olga 'I grow tomatoes on my balcony'")).strip()
    ok(cli(env, store, "add olga 'I like green tea'"))
    before = as_json(cli(env, store, "stats --json"))
    assert (before["pending_vectors"], before["embedder"]) == (2, None)
    database = sha256(store / "memory.db")

    # Without --no-embed too: these read SQL only.
    for command in ("list olga", f"show olga {tomatoes}", "export olga", "stats", "stats --json"):
        ok(cli(env, store, command, embed=True))
        assert sorted(path.name for path in store.iterdir()) == ["memory.db"], command
        assert sha256(store / "memory.db") == database, command
    assert as_json(cli(env, store, "stats --json", embed=True)) == before

    # search embeds the query, but leaves the memories waiting for the vector index.
    hits = as_json(cli(env, store, "search olga 'balcony tomatoes' --json", embed=True))
    assert [hit["memory"]["id"] for hit in hits] == [tomatoes]
    assert as_json(cli(env, store, "stats --json"))["pending_vectors"] == 2


def test_add_creates_the_store_and_prints_the_id(env, tmp_path):
    store = tmp_path / "nested" / "store"
    added = as_json(
        cli(
            env,
            store,
            "add carol 'I keep bees on my roof' --kind episode --conversation c9 "
            """--metadata '{"source": "cli"}' --created-at 2026-02-03T10:00:00-05:00 --json""",
            embed=True,
        )
    )
    assert MEMORY_ID.fullmatch(added["id"])
    assert (added["user_id"], added["content"], added["kind"]) == (
        "carol",
        "I keep bees on my roof",
        "episode",
    )
    assert (added["conversation_id"], added["metadata"]) == ("c9", {"source": "cli"})
    assert added["created_at"] == "2026-02-03T15:00:00+00:00"
    hits = as_json(cli(env, store, "search carol 'honey insects' --json", embed=True))
    assert [hit["memory"]["id"] for hit in hits] == [added["id"]]
    assert hits[0]["breakdown"]["vector_rank"] == 1  # found by meaning: the vector was flushed

    # The store defaults to $MULTISESSION_STORE, options may follow the command, and the
    # plain output is just the id.
    with_default = {**env, "MULTISESSION_STORE": str(store)}
    printed = ok(run(with_default, "add", "carol", "I like rye bread", "--no-embed"))
    assert MEMORY_ID.fullmatch(printed.strip())
    listed = as_json(run(env, "list", "carol", "--json", "--store", store, "--no-embed"))
    assert [m["id"] for m in listed["memories"]] == [printed.strip(), added["id"]]


def test_forget_one_memory(env, tmp_path):
    store = tmp_path / "store"
    keep = ok(cli(env, store, "add dave 'I like jazz'")).strip()
    drop = ok(cli(env, store, "add dave 'I like polka'")).strip()
    assert drop in ok(cli(env, store, f"forget dave {drop}"))
    listed = as_json(cli(env, store, "list dave --json"))
    assert [memory["id"] for memory in listed["memories"]] == [keep]
    again = one_error_line(cli(env, store, f"forget dave {drop}"))
    assert f"user 'dave' has no memory {drop}" in again
    assert "multisession list dave" in again


def test_forget_all_needs_yes_without_a_terminal(env, tmp_path):
    store = tmp_path / "store"
    source = write_jsonl(
        tmp_path / "users.jsonl",
        [
            {"content": "I like jazz", "user_id": "erin"},
            {"role": "user", "content": "hello", "conversation_id": "c", "user_id": "erin"},
            {"content": "I like tea", "user_id": "frank"},
        ],
    )
    ok(cli(env, store, f"import {source}"))
    refused = one_error_line(cli(env, store, "forget erin --all"))
    assert "--yes" in refused
    assert as_json(cli(env, store, "stats --json"))["users"] == 2

    deleted = as_json(cli(env, store, "forget erin --all --yes --json"))
    assert deleted == {"user_id": "erin", "memories_deleted": 1}
    assert "unknown user 'erin'" in one_error_line(cli(env, store, "export erin"))
    assert "unknown user 'erin'" in one_error_line(cli(env, store, "forget erin --all --yes"))
    stats = as_json(cli(env, store, "stats --json"))
    assert (stats["users"], stats["memories"]) == (1, 1)


def run_on_terminal(env: dict[str, str], store: Path, command: str, typed: bytes) -> Result:
    """Like :func:`cli`, with stdin on a pseudo-terminal where ``typed`` is typed."""
    primary, secondary = pty.openpty()
    try:
        with subprocess.Popen(
            [str(CLI), "--store", str(store), "--no-embed", *shlex.split(command)],
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        ) as process:
            os.write(primary, typed)
            stdout, stderr = process.communicate(timeout=180)
    finally:
        os.close(primary)
        os.close(secondary)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_forget_all_asks_for_the_user_id_on_a_terminal(env, tmp_path):
    store = tmp_path / "store"
    ok(cli(env, store, "add gina 'I like chess'"))
    mistyped = run_on_terminal(env, store, "forget gina --all", b"gin\n")
    assert mistyped.returncode == 1
    assert "Type the user id to confirm" in mistyped.stderr
    assert "error: the confirmation did not match the user id" in mistyped.stderr
    assert as_json(cli(env, store, "stats --json"))["memories"] == 1

    confirmed = run_on_terminal(env, store, "forget gina --all", b"gina\n")
    assert "forgot user 'gina'" in ok(confirmed)
    assert as_json(cli(env, store, "stats --json"))["users"] == 0


def test_import_reports_rejected_lines_and_stores_the_valid_ones(env, tmp_path):
    store = tmp_path / "store"
    source = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"content": "I live in Oslo", "created_at": "2025-05-01T10:00:00+02:00"},
            '{"content": "broken',
            {"content": "   "},
            {"role": "robot", "content": "beep", "conversation_id": "c"},
            {"content": "naive time", "created_at": "2025-05-01T10:00:00"},
            {
                "role": "user",
                "content": "I moved to Lisbon",
                "conversation_id": "c",
                "timestamp": "2025-05-02T10:00:00Z",
            },
            {"role": "user", "content": "no conversation"},
            {"content": "nobody's", "user_id": ""},
            {"content": "typo", "colour": "red"},
            [1, 2],
            # A lone surrogate (an escape in the JSON) cannot be stored as UTF-8.
            {"role": "user", "content": "I moved to Li\ud800sbon", "conversation_id": "c"},
        ],
    )
    result = cli(env, store, f"import {source} --user hana --json")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["skipped"], summary["rejected"]) == (2, 0, 9)
    reasons = {item["line"]: item["reason"] for item in summary["rejections"]}
    assert sorted(reasons) == [2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert reasons[2].startswith("malformed JSON")
    assert "content is empty" in reasons[3]
    assert reasons[4].startswith("role must be one of user, assistant") and "'robot'" in reasons[4]
    assert "has no timezone" in reasons[5] and "2025-05-01T10:00:00Z" in reasons[5]
    assert "conversation_id" in reasons[7]
    assert "user_id must be a non-empty string" in reasons[8]
    assert reasons[9].startswith("unknown field 'colour'")
    assert "expected a JSON object, got an array" in reasons[10]
    assert reasons[11].startswith("message content holds a character that is not valid Unicode")
    assert one_error_line(result).startswith("error: 9 lines were rejected")

    exported = as_json(cli(env, store, "export hana"))
    assert sorted((m["content"], m["created_at"]) for m in exported["memories"]) == [
        ("I live in Oslo", "2025-05-01T08:00:00+00:00"),
        ("I moved to Lisbon", "2025-05-02T10:00:00+00:00"),
    ]

    # Without --json the rejections are a table on stderr; a re-run stores nothing twice.
    again = cli(env, store, f"import {source} --user hana")
    assert again.returncode == 1
    assert re.search(r"│\s+7 │ missing \"conversation_id\"", again.stderr)
    assert again.stdout == (
        "imported 0 lines (0 memories, 0 messages) and 0 memories extracted from messages; "
        "skipped 2 already stored; rejected 9\n"
    )


def stored_rows(store: Path) -> int:
    """Memories plus messages committed in the store's SQLite file (0 before it exists)."""
    database = store / "memory.db"
    if not database.exists():
        return 0
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        (memories,) = conn.execute("SELECT count(*) FROM ms_memories").fetchone()
        (messages,) = conn.execute("SELECT count(*) FROM ms_messages").fetchone()
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0
    finally:
        conn.close()
    return int(memories) + int(messages)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, "the import ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_import_killed_and_interrupted_resumes_storing_every_line_once(env, tmp_path):
    store = tmp_path / "store"
    records: list[dict[str, Any]] = []
    for i in range(300):
        conversation = f"c{i % 4}"
        minute = f"2026-01-02T{i // 60:02d}:{i % 60:02d}"
        records += [
            {"content": f"Fact {i}: locker {i} holds item {i}", "created_at": "2026-01-01T00:00Z"},
            {
                "role": "user",
                "content": f"I love dish number {i}",
                "conversation_id": conversation,
                "timestamp": f"{minute}:00Z",
            },
            {
                "role": "assistant",
                "content": f"Noted dish {i}",
                "conversation_id": conversation,
                "timestamp": f"{minute}:30Z",
            },
        ]
    source = write_jsonl(tmp_path / "big.jsonl", records)
    expected_rows = 300 + 600 + 300  # memory lines, messages, one memory per user message
    command = [str(CLI), "--store", str(store), "--no-embed", "import", str(source)]
    command += ["--user", "ivan", "--batch-size", "10"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}

    with subprocess.Popen(command, **pipes) as first:
        wait_for(lambda: stored_rows(store) > 0, first)
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert first.returncode == -signal.SIGKILL
    after_kill = stored_rows(store)
    assert 0 < after_kill < expected_rows

    with subprocess.Popen(command, **pipes) as second:
        wait_for(lambda: stored_rows(store) > after_kill + 30, second)
        second.send_signal(signal.SIGINT)
        _, stderr = second.communicate()
    assert second.returncode == 130
    assert (
        stderr == "interrupted: run the same import again to finish it, nothing is stored twice\n"
    )
    after_interrupt = stored_rows(store)
    assert after_kill < after_interrupt < expected_rows

    summary = as_json(run(env, *command[1:], "--json"))
    assert summary["rejected"] == 0
    assert summary["imported"] + summary["skipped"] == len(records)
    assert 0 < summary["skipped"] < len(records)
    assert stored_rows(store) == expected_rows

    exported = as_json(cli(env, store, "export ivan"))
    contents = Counter(memory["content"] for memory in exported["memories"])
    assert set(contents.values()) == {1}
    assert set(contents) == {r["content"] for r in records if "role" not in r} | {
        f"I love dish number {i}" for i in range(300)
    }
    assert len(exported["conversations"]) == 4
    for conversation in exported["conversations"]:
        stored = [(m["role"], m["content"], m["created_at"]) for m in conversation["messages"]]
        assert stored == [
            (r["role"], r["content"], r["timestamp"].replace("Z", "+00:00"))
            for r in records
            if r.get("conversation_id") == conversation["conversation_id"]
        ]


def test_repair_indexes_missing_vectors_and_removes_orphans(env, tmp_path):
    store = tmp_path / "store"
    source = write_jsonl(
        tmp_path / "facts.jsonl",
        [{"content": f"Fact {i}: the locker code is {1000 + i}"} for i in range(5)],
    )
    # Written keyword-only: SQL holds them, the vector index does not.
    ok(cli(env, store, f"import {source} --user jo"))
    assert as_json(cli(env, store, "stats --json"))["pending_vectors"] == 5
    repaired = ok(cli(env, store, "repair", embed=True))
    assert repaired == "reindexed 5 memories; removed 0 orphaned vectors\n"

    # Deleting without the vector index leaves a proof of the deletion for repair. (The
    # user is searched exactly from SQL, so Chroma never held a vector to remove.)
    first = as_json(cli(env, store, "list jo --limit 1 --json"))["memories"][0]
    forgotten = cli(env, store, f"forget jo {first['id']}")
    assert "until `multisession repair` removes them" in forgotten.stderr
    assert as_json(cli(env, store, "repair --json", embed=True)) == {
        "reindexed": 0,
        "orphans_removed": 0,
        "orphans_kept": 0,
    }
    stats = as_json(cli(env, store, "stats --json"))
    assert (stats["memories"], stats["pending_vectors"]) == (4, 0)


def test_repair_reports_the_vectors_it_keeps_for_memories_sql_lost(env, tmp_path, minilm):
    import shutil

    from multisession import MemoryEngine

    store = tmp_path / "store"
    first = write_jsonl(tmp_path / "first.jsonl", [{"content": "I like green tea"}])
    ok(cli(env, store, f"import {first} --user jo", embed=True))
    shutil.copy(store / "memory.db", tmp_path / "backup.db")
    # Written by an engine whose exact-search limit (0) puts jo's vectors in Chroma too.
    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        engine.add_many("jo", ["I live in Lisbon", "I have a cat called Miso"])
    # SQL loses the later writes (an older file comes back); their vectors remain.
    for leftover in store.glob("memory.db*"):
        leftover.unlink()
    shutil.copy(tmp_path / "backup.db", store / "memory.db")

    report = ok(cli(env, store, "repair", embed=True))
    assert report.startswith("reindexed 0 memories; removed 0 orphaned vectors\n")
    assert "kept 2 vectors whose memories SQL no longer has" in report
    assert "restore the SQL store from a backup" in report
    assert as_json(cli(env, store, "repair --json", embed=True))["orphans_kept"] == 2


@pytest.mark.server
def test_sql_and_vector_urls_replace_the_directory(env, tmp_path, postgres_url, chroma_url):
    unused = tmp_path / "unused"
    where = ["--store", unused, "--sql-url", postgres_url, "--vector-url", chroma_url]
    added = as_json(run(env, *where, "add", "lena", "I am allergic to shellfish", "--json"))
    hits = as_json(run(env, *where, "search", "lena", "seafood intolerance", "--json"))
    assert [hit["memory"]["id"] for hit in hits] == [added["id"]]
    assert hits[0]["breakdown"]["vector_rank"] == 1
    stats = as_json(run(env, *where, "stats", "--json"))
    assert (stats["users"], stats["memories"], stats["pending_vectors"]) == (1, 1, 0)
    assert stats["store"] is None
    assert stats["disk"] == {"memory_db_bytes": None, "chroma_bytes": None, "total_bytes": 0}
    assert not unused.exists()


def test_demo_command_runs_the_demo(env, tmp_path):
    # The demo's own tests run the story; here, that `multisession demo` reaches it: the
    # demo refuses a store that holds other data, before the story starts.
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    for where in (["demo", "--store", tmp_path], ["--store", tmp_path, "demo"]):
        result = run(env, *where)
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert f"{tmp_path.resolve()} is not empty" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_import_module_examples_hold():
    from multisession.cli import importer

    assert doctest.testmod(importer).failed == 0


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "search alice peanuts",
        "list alice",
        f"show alice {'0' * 32}",
        "export alice",
        f"forget alice {'0' * 32}",
        "forget alice --all --yes",
        "stats",
        "repair",
    ],
)
def test_read_commands_refuse_a_missing_store_without_creating_it(env, tmp_path, command):
    store = tmp_path / "missing"
    error = one_error_line(cli(env, store, command, embed=True))
    assert error.startswith(f"error: no store at {store}: the directory does not exist")
    assert "--store" in error
    assert not store.exists()


def test_bad_values_are_one_line_errors_that_change_nothing(env, tmp_path):
    store = tmp_path / "store"
    memory_id = ok(cli(env, store, "add kim 'I like tea'")).strip()
    before = as_json(cli(env, store, "export kim"))["memories"]

    error = one_error_line(cli(env, store, "show kim 12345"))
    assert "malformed memory id '12345'" in error and "32 lowercase hex" in error
    assert "malformed memory id 'XYZ'" in one_error_line(cli(env, store, "forget kim XYZ"))
    error = one_error_line(cli(env, store, "list kim --since 'last week'"))
    assert "--since 'last week' is not an ISO 8601 time" in error
    error = one_error_line(cli(env, store, "search kim tea --until 2026-01-01"))
    assert "no timezone" in error and "2026-01-01T00:00:00Z" in error
    for command in ("list nobody", f"show nobody {memory_id}", f"forget nobody {memory_id}"):
        assert "unknown user 'nobody'" in one_error_line(cli(env, store, command))
    error = one_error_line(cli(env, store, "add kim x --metadata '{oops'"))
    assert "--metadata is not valid JSON" in error
    assert "content is empty" in one_error_line(cli(env, store, "add kim '  '"))
    assert as_json(cli(env, store, "export kim"))["memories"] == before


def test_add_and_import_refuse_bad_input_before_creating_a_store(env, tmp_path):
    store = tmp_path / "new"
    error = one_error_line(cli(env, store, "add kim x --created-at soon"))
    assert "--created-at 'soon' is not an ISO 8601 time" in error
    error = one_error_line(cli(env, store, f"import {tmp_path / 'nope.jsonl'}"))
    assert "cannot read" in error and "nope.jsonl" in error
    assert not store.exists()

    source = write_jsonl(tmp_path / "anonymous.jsonl", [{"content": "whose is this?"}])
    result = cli(env, store, f"import {source} --json")
    assert one_error_line(result).startswith("error: 1 line was rejected")
    (rejection,) = json.loads(result.stdout)["rejections"]
    assert rejection["line"] == 1 and "--user" in rejection["reason"]


def test_usage_errors_exit_2(env, tmp_path):
    for command in ("frobnicate", "search alice", "list", "", "search a q -k many"):
        result = cli(env, tmp_path, command)
        assert result.returncode == 2, command
        assert "usage: multisession" in result.stderr
    result = cli(env, tmp_path, "forget alice")
    assert result.returncode == 2
    assert "give either MEMORY_ID or --all" in result.stderr
