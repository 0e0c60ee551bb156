"""``multisession privacy report``, ``forget --class`` and the class in ``list``/``show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._console import as_json, cli, console_env, ok

CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return console_env(200)


@pytest.fixture
def store(tmp_path: Path, env: dict[str, str]) -> Path:
    """A store where rosa has memories of each class and a chat message (kept as a memory
    too); tom has a card too."""
    location = tmp_path / "store"
    ok(cli(env, location, f"add rosa 'my card is {CARD}'"))
    ok(cli(env, location, "add rosa 'write to rosa.m@example.pt'"))
    ok(cli(env, location, "add rosa 'I like long walks'"))
    ok(cli(env, location, f"add tom 'card {CARD}'"))
    history = tmp_path / "chat.jsonl"
    history.write_text(
        json.dumps({"role": "user", "content": "I have asthma", "conversation_id": "c1"}) + "\n",
        encoding="utf-8",
    )
    ok(cli(env, location, f"import {history} --user rosa --quiet"))
    return location


def test_list_and_show_give_the_class_and_filter_on_it(env, store):
    table = ok(cli(env, store, "list rosa"))
    assert "class" in table and "sensitive" in table and "personal" in table
    listed = as_json(cli(env, store, "list rosa --class sensitive --json"))
    assert sorted((m["content"], m["detectors"]) for m in listed["memories"]) == [
        ("I have asthma", ["health"]),
        (f"my card is {CARD}", ["payment_card"]),
    ]
    assert listed["total"] == 2
    both = as_json(cli(env, store, "list rosa --class public --class personal --json"))
    assert both["total"] == 2
    card = next(m for m in listed["memories"] if m["detectors"] == ["payment_card"])
    shown = ok(cli(env, store, f"show rosa {card['id']}"))
    assert "payment_card" in shown
    bad = cli(env, store, "list rosa --class secret")
    assert bad.returncode == 1 and "sensitivity must be one or more of the classes" in bad.stderr


def test_privacy_report_counts_by_class_and_detector_and_prints_no_value(env, store):
    report = as_json(cli(env, store, "privacy report --user rosa --json"))
    assert report["memories"]["by_class"] == {"personal": 1, "public": 1, "sensitive": 2}
    assert report["memories"]["by_detector"] == {"email": 1, "health": 1, "payment_card": 1}
    assert report["messages"]["by_class"] == {"sensitive": 1}
    assert report["messages"]["by_detector"] == {"health": 1}
    text = ok(cli(env, store, "privacy report --user rosa"))
    assert "payment_card" in text and "sensitive" in text
    for output in (text, json.dumps(report)):
        assert CARD not in output and "rosa.m@" not in output and "asthma" not in output
    unknown = cli(env, store, "privacy report --user nobody")
    assert unknown.returncode == 1 and "unknown user 'nobody'" in unknown.stderr
    missing = cli(env, store, "privacy report")
    assert missing.returncode == 2 and "--user" in missing.stderr


def test_forget_class_needs_confirmation_and_erases_one_class_of_one_user(env, store):
    refused = cli(env, store, "forget rosa --class sensitive")
    assert refused.returncode == 1 and "add --yes to confirm" in refused.stderr
    assert as_json(cli(env, store, "list rosa --json"))["total"] == 4
    both = cli(env, store, "forget rosa --all --class sensitive --yes")
    assert both.returncode == 2 and "not several" in both.stderr

    erased = as_json(cli(env, store, "forget rosa --class sensitive --yes --json"))
    assert erased == {"user_id": "rosa", "classes": ["sensitive"], "memories": 2, "messages": 1}
    left = as_json(cli(env, store, "list rosa --json"))["memories"]
    assert sorted(m["sensitivity"] for m in left) == ["personal", "public"]
    assert as_json(cli(env, store, "list tom --class sensitive --json"))["total"] == 1
    exported = as_json(cli(env, store, "export rosa"))
    assert CARD not in json.dumps(exported) and "asthma" not in json.dumps(exported)
