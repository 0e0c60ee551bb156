"""The demo tells its whole story: offline, and with a (fake) OpenAI-compatible server.

The demo runs as users run it, ``python -m multisession.cli.demo`` in a subprocess; the only
thing faked is what lies outside: the model API, served on loopback.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from multisession import MemoryEngine
from multisession.cli.demo import main

CANNED_ANSWER = "FAKE-MODEL-ANSWER: avoid peanuts"
DINNER_QUESTION = "What should I cook for dinner tonight?"


@dataclass
class FakeOpenAI:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that records what it is sent."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


def _completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": CANNED_ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    ).encode()


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    recorded: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorded.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            payload = _completion(body.get("model", "?"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake = FakeOpenAI(url=f"http://127.0.0.1:{server.server_address[1]}/v1", requests=recorded)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def fresh_fake_openai(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.requests.clear()
    return fake_openai


def _run_demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OPENAI_")
        and key not in {"COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "MULTISESSION_OPENAI_MODEL"}
    }
    base["NO_PROXY"] = base["no_proxy"] = "127.0.0.1,localhost"
    return subprocess.run(
        [sys.executable, "-m", "multisession.cli.demo", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _between(text: str, start: str, end: str) -> str:
    begin = text.index(start)
    return text[begin : text.index(end, begin)]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class OfflineRun:
    result: subprocess.CompletedProcess[str]
    store: Path
    openai_imported: Path
    requests: list[dict[str, Any]]


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> OfflineRun:
    """One offline run of the demo, its store kept.

    No key is set, but OPENAI_BASE_URL points at the fake server (which must see no
    request), and an ``openai`` package that leaves a mark when imported shadows the
    real one (which must not be imported at all).
    """
    root = tmp_path_factory.mktemp("offline")
    tripwire = root / "tripwire"
    (tripwire / "openai").mkdir(parents=True)
    marker = root / "openai-imported"
    (tripwire / "openai" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8"
    )
    fake_openai.requests.clear()
    store = root / "store"
    result = _run_demo(
        "--store",
        str(store),
        env={
            "OPENAI_BASE_URL": fake_openai.url,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tripwire), os.environ.get("PYTHONPATH")])
            ),
        },
    )
    return OfflineRun(result, store, marker, list(fake_openai.requests))


@pytest.mark.slow
def test_offline_story_resumes_and_answers_from_memory(offline_run: OfflineRun) -> None:
    result = offline_run.result
    assert result.returncode == 0, result.stdout + result.stderr
    session_two = _between(result.stdout, "Session 2 ·", "Session 3 ·")

    assert "engine.resume(): mode = fresh_start after 3 d" in session_two
    assert "continue after 20 min, recap after 5 h, fresh_start after 3 d (now)" in session_two

    # The peanut allergy is among the memories found, with its whole score breakdown.
    row = re.search(
        r"^\s*(\d+)\s+I'm allergic to peanuts\s+fact\s+(\d\.\d{4})\s+(\d\.\d{4})\s+"
        r"(?:-|#\d+ \d+\.\d\d)\s+#(\d+) (-?\d\.\d{3})\s+(\d\.\d{3})\s+3 d\s*$",
        _between(session_two, "Memories found for the question", "BM25: rank"),
        re.MULTILINE,
    )
    assert row is not None, session_two
    rank, final, fused, vector_rank, similarity, recency = row.groups()
    assert rank == "1" and vector_rank == "1"
    assert float(similarity) > 0
    assert float(final) == pytest.approx(float(fused) * (0.9 + 0.1 * float(recency)), abs=2e-4)
    assert float(final) < float(fused) and 0.9 < float(recency) < 1

    # The final prompt carries the memory, within its budget.
    prompt = re.search(
        r"The final prompt: (\d+) tokens, budget (\d+)\b.*build_context: (\d+) tokens, ",
        session_two,
        re.DOTALL,
    )
    assert prompt is not None, session_two
    total, budget, built = map(int, prompt.groups())
    assert 0 < built < total <= budget == 3584
    assert "- (2026-03-02) I'm allergic to peanuts" in session_two
    assert f"user: {DINNER_QUESTION}" in session_two
    assert "assistant · offline scripted answer" in session_two


@pytest.mark.slow
def test_offline_story_newer_preference_wins_and_users_are_isolated(
    offline_run: OfflineRun,
) -> None:
    result = offline_run.result
    assert result.returncode == 0, result.stdout + result.stderr
    session_three = result.stdout[result.stdout.index("Session 3 ·") :]

    order = _between(session_three, "with temporal weighting off", "The weighting is bounded")
    assert re.search(
        r"I switched to the red theme in my code editor, the blue one tired my eyes\s+"
        r"\d+ min\s+#1 0\.\d{4}\s+#\d 0\.\d{4}",
        order,
    ), order
    # The older preference is superseded: out of the current search, found in the history.
    assert re.search(
        r"I like the blue theme in my code editor\s+120 d\s+superseded\s+#\d 0\.\d{4}", order
    ), order
    assert "✓ The newer preference ranks first and superseded the older one" in session_three
    assert "rule switched-to" in session_three
    assert "resume mode: recap" in session_three

    isolation = session_three[session_three.index("Isolation") :]
    assert re.search(r"^\s*alice\s+\d+\s+0\s+I'm allergic to peanuts", isolation, re.MULTILINE)
    assert re.search(r"^\s*bob\s+2\s+2\s", isolation, re.MULTILINE)
    assert "✓ bob's memories seen by alice: 0; bob's own search finds 2." in isolation


@pytest.mark.slow
def test_offline_story_never_touches_openai(offline_run: OfflineRun) -> None:
    assert offline_run.result.returncode == 0
    assert offline_run.requests == []
    assert not offline_run.openai_imported.exists()
    assert "OpenAI" not in offline_run.result.stdout.replace("OPENAI_API_KEY", "")
    assert offline_run.result.stdout.count("assistant · offline scripted answer") == 2
    assert "multisession serve --store DIR" in offline_run.result.stdout


@pytest.mark.slow
def test_store_option_keeps_the_store(
    offline_run: OfflineRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert offline_run.result.returncode == 0
    store = offline_run.store
    assert (store / "memory.db").is_file() and (store / "chroma").is_dir()
    assert f"The store is kept in {store}" in offline_run.result.stdout

    with MemoryEngine(store, embedder=None) as engine:
        alice = {
            memory.content: memory.kind for memory in engine.list("alice", include_superseded=True)
        }
        assert alice == {
            "My name is Alice and I work at Acme Corp as a data engineer": "fact",
            "Please keep your answers short and show code examples": "preference",
            "I'm allergic to peanuts": "fact",
            "I like the blue theme in my code editor": "preference",
            "I'm working on migrating our billing pipeline to Airflow, about halfway done": (
                "episode"
            ),
            "I switched to the red theme in my code editor, the blue one tired my eyes": (
                "preference"
            ),
        }
        current = {memory.content for memory in engine.list("alice")}
        assert current == set(alice) - {"I like the blue theme in my code editor"}
        assert sorted(memory.content for memory in engine.list("bob")) == [
            "I love peanut butter sandwiches",
            "My name is Bob and I work at Globex",
        ]
        dinner = engine.get_messages("alice", "chat-2026-03-05")
        assert [message.role for message in dinner] == ["user", "assistant"]
        assert dinner[0].content == DINNER_QUESTION
        assert "peanut-free" in dinner[1].content

    # A second run into the same store refuses, and leaves it as it was.
    before = sorted(path.name for path in store.iterdir())
    assert main(["--store", str(store)]) == 2
    assert f"{store} already holds a store (memory.db)" in capsys.readouterr().err
    assert sorted(path.name for path in store.iterdir()) == before


def test_refuses_a_directory_that_holds_other_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["--store", str(tmp_path)]) == 2
    assert f"{tmp_path} is not empty" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_with_a_key_the_model_answers_from_the_memory_prompt(
    tmp_path: Path, fresh_fake_openai: FakeOpenAI
) -> None:
    store = tmp_path / "store"
    result = _run_demo(
        "--store",
        str(store),
        env={
            "OPENAI_API_KEY": "test",
            "OPENAI_BASE_URL": fresh_fake_openai.url,
            "MULTISESSION_OPENAI_MODEL": "fake-model",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(CANNED_ANSWER) == 2
    assert "real answer from fake-model" in result.stdout
    assert "offline scripted answer" not in result.stdout
    assert "OpenAI call failed" not in result.stdout

    dinner, laptop = fresh_fake_openai.requests
    assert dinner["path"] == "/v1/chat/completions"
    assert dinner["authorization"] == "Bearer test"
    assert dinner["body"]["model"] == "fake-model"
    messages = dinner["body"]["messages"]
    assert messages[0]["role"] == "system"
    assert "- (2026-03-02) I'm allergic to peanuts" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": DINNER_QUESTION}
    system = laptop["body"]["messages"][0]["content"]
    # The prompt holds the current preference only: the superseded one is history, named
    # once as what the change replaced.
    assert "- I switched to the red theme" in system
    assert system.count("I like the blue theme") == system.count('before: "I like the blue')
    assert "- I like the blue theme" not in system

    with MemoryEngine(store, embedder=None) as engine:
        recorded = engine.get_messages("alice", "chat-2026-03-05")
        assert [message.content for message in recorded] == [DINNER_QUESTION, CANNED_ANSWER]


@pytest.mark.slow
def test_with_a_key_and_no_server_the_story_goes_on_offline() -> None:
    result = _run_demo(
        env={
            "OPENAI_API_KEY": "test",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = re.findall(
        r"^! The OpenAI call failed \((\w+): .*using the offline answer\.$",
        result.stdout,
        re.MULTILINE,
    )
    assert warnings == ["APIConnectionError", "APIConnectionError"], result.stdout
    assert result.stdout.count("assistant · offline scripted answer") == 2
    assert "✓ bob's memories seen by alice: 0" in result.stdout

    temporary = re.search(r"The temporary store (\S+) is removed now\.", result.stdout)
    assert temporary is not None
    assert not Path(temporary.group(1)).exists()
