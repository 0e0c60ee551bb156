"""Tests for multisession.context.tokens: exact offline counts, the estimate, never the network."""

from __future__ import annotations

import doctest
import hashlib
import importlib.util
import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from multisession import ContextMessage
from multisession._log_once import forget_warnings
from multisession.context import _tiktoken_files, tokens
from multisession.context._tiktoken_files import forget_encodings
from multisession.context.tokens import (
    REPLY_PRIMING,
    TOKENS_PER_MESSAGE,
    EstimatingCounter,
    TiktokenCounter,
    TokenCounter,
    encoding_for_model,
    token_counter,
)
from multisession.errors import ConfigurationError, InvalidInputError

REPO_ROOT = Path(__file__).resolve().parents[2]
FILE_NAMES = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}
SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
ENCODINGS = sorted(FILE_NAMES)
SAMPLES = [
    "",
    " ",
    "hello world",
    "I'm allergic to peanuts and prefer window seats.",
    "  leading and trailing spaces  \n\n\n",
    "def f(x):\n    return {k: v for k, v in x.items() if v is not None}\n",
    "31415926535897932384626433832795",
    "我对花生过敏，我喜欢靠窗的座位。",
    "私はピーナッツアレルギーです。",
    "У меня аллергия на арахис",
    "मुझे मूंगफली से एलर्जी है",
    "🎉🔥😀👍🏽🚀 family: 👨‍👩‍👧‍👦",
    "<|endoftext|> and <|endofprompt|> are plain text here",
    "lone surrogate \ud800 in the middle",
    "https://example.com/path?query=abc&x=1#fragment",
    "SGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IG9mIGJhc2U2NA==",
    "word " * 2000,
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def reference(
    tiktoken_files: Path, network_forbidden: Callable[[], AbstractContextManager[list[str]]]
) -> dict[str, tiktoken.Encoding]:
    """tiktoken's own encodings, read from the verified files through its cache variable."""
    with network_forbidden() as attempts, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_files))
        encodings = {name: tiktoken.get_encoding(name) for name in ENCODINGS}
    assert attempts == []
    return encodings


@pytest.fixture
def fresh_process() -> Iterator[None]:
    """Forget loaded encodings and logged warnings, as in a new interpreter (and after)."""
    forget_encodings()
    forget_warnings()
    yield
    forget_encodings()
    forget_warnings()


@pytest.fixture
def llama_index_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make llama-index-core look uninstalled."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        if name == "llama_index" or name.startswith("llama_index."):
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.fixture
def no_files_anywhere(
    fresh_process: None, llama_index_absent: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """No variable points at tiktoken files, no llama-index, an empty temp dir; returns it."""
    for variable in ("MULTISESSION_TIKTOKEN_DIR", "TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    temp = tmp_path / "tempdir"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def _copy_files(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in FILE_NAMES.values():
        shutil.copyfile(source / name, target / name)
    return target


# --------------------------------------------------------------------------- exact counts


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", SAMPLES, ids=range(len(SAMPLES)))
def test_counts_equal_tiktoken(
    encoding: str,
    text: str,
    exact_counters: dict[str, TiktokenCounter],
    reference: dict[str, tiktoken.Encoding],
) -> None:
    assert exact_counters[encoding].count(text) == len(reference[encoding].encode_ordinary(text))


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=()), max_size=300))
def test_counts_equal_tiktoken_on_any_text(
    text: str, exact_counters: dict[str, TiktokenCounter], reference: dict[str, tiktoken.Encoding]
) -> None:
    for encoding in ENCODINGS:
        expected = len(reference[encoding].encode(text, disallowed_special=()))
        assert exact_counters[encoding].count(text) == expected


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encoding_is_the_one_tiktoken_builds(
    encoding: str,
    exact_counters: dict[str, TiktokenCounter],
    reference: dict[str, tiktoken.Encoding],
) -> None:
    ours, theirs = exact_counters[encoding]._encoding, reference[encoding]

    assert ours.name == theirs.name
    assert ours._pat_str == theirs._pat_str
    assert ours._special_tokens == theirs._special_tokens
    assert ours._mergeable_ranks == theirs._mergeable_ranks
    assert ours.n_vocab == theirs.n_vocab


def test_file_names_are_tiktokens_cache_names() -> None:
    for encoding, spec in _tiktoken_files.ENCODINGS.items():
        assert spec.file_name == FILE_NAMES[encoding]
        assert spec.file_name == hashlib.sha1(spec.url.encode()).hexdigest()
        assert spec.sha256 == SHA256[encoding]


def test_count_messages_follows_the_budget_rule(exact_counters: dict[str, TiktokenCounter]) -> None:
    counter = exact_counters["cl100k_base"]
    messages = [
        ContextMessage("system", "You are a helpful assistant."),
        ContextMessage("user", "hello"),
    ]

    assert (TOKENS_PER_MESSAGE, REPLY_PRIMING) == (3, 3)
    assert counter.count_messages([]) == 3
    assert counter.count_messages([ContextMessage("user", "hello")]) == 3 + 1 + 1 + 3
    assert (
        counter.count_messages(messages)
        == sum(
            3 + counter.count(message.role) + counter.count(message.content) for message in messages
        )
        + 3
    )
    estimate = EstimatingCounter()
    assert (
        estimate.count_messages(messages)
        == sum(
            3 + estimate.count(message.role) + estimate.count(message.content)
            for message in messages
        )
        + 3
    )


def test_counters_satisfy_the_protocol(exact_counters: dict[str, TiktokenCounter]) -> None:
    assert isinstance(exact_counters["o200k_base"], TokenCounter)
    assert isinstance(EstimatingCounter(), TokenCounter)
    assert not isinstance(object(), TokenCounter)


# --------------------------------------------------------------------------- model table


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("o1", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("gpt-5.1", "o200k_base"),
        ("gpt-oss-120b", "o200k_base"),
        ("gpt-oss", "o200k_base"),
        ("gpt-4.5", "o200k_base"),
        ("chatgpt-4o", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc123", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("openai:gpt-4o-mini", "o200k_base"),
        ("GPT-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4-32k", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("ft:gpt-3.5-turbo:acme::abc123", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-3-large", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("claude-3-5-sonnet", "cl100k_base"),
        ("llama3.1:8b", "cl100k_base"),
        ("text-davinci-003", "cl100k_base"),  # tiktoken says p50k_base: not supported
        ("davinci-002", "cl100k_base"),
        ("cl100k_base", "cl100k_base"),
        ("o200k_base", "o200k_base"),
    ],
)
def test_encoding_for_model(model: str, encoding: str) -> None:
    assert encoding_for_model(model) == encoding


@pytest.mark.parametrize("model", ["", "   ", "p50k_base", "r50k_base", "gpt2", None, 4])
def test_encoding_for_model_rejects_what_it_cannot_count(model: Any) -> None:
    with pytest.raises(InvalidInputError):
        encoding_for_model(model)


def test_bad_arguments_are_rejected(tiktoken_files: Path) -> None:
    with pytest.raises(InvalidInputError, match="not one path"):
        TiktokenCounter("gpt-4o", cache_dirs=str(tiktoken_files))
    with pytest.raises(InvalidInputError, match="download_timeout"):
        token_counter("gpt-4o", download_timeout=0)


# --------------------------------------------------------------------------- finding files


def test_cache_dirs_come_first_then_the_environment_then_tiktoken_then_llama_index(
    fresh_process: None, tiktoken_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argument = _copy_files(tiktoken_files, tmp_path / "argument")
    configured = _copy_files(tiktoken_files, tmp_path / "configured")
    tiktoken_cache = _copy_files(tiktoken_files, tmp_path / "tiktoken-cache")
    monkeypatch.setenv(
        "MULTISESSION_TIKTOKEN_DIR", f"{tmp_path / 'missing'}{os.pathsep}{configured}"
    )
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tiktoken_cache))
    name = FILE_NAMES["cl100k_base"]

    def source(**arguments: Any) -> str:
        forget_encodings()
        return TiktokenCounter("cl100k_base", **arguments).source

    assert source(cache_dirs=[tmp_path / "empty", argument]) == str(argument / name)
    assert source() == str(configured / name)
    monkeypatch.delenv("MULTISESSION_TIKTOKEN_DIR")
    assert source() == str(tiktoken_cache / name)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    assert Path(source()).parent.parts[-4:] == ("llama_index", "core", "_static", "tiktoken_cache")


def test_tiktokens_default_cache_is_used_last(
    no_files_anywhere: Path, tiktoken_files: Path
) -> None:
    _copy_files(tiktoken_files, no_files_anywhere / "data-gym-cache")

    counter = TiktokenCounter("o200k_base")

    assert counter.source == str(no_files_anywhere / "data-gym-cache" / FILE_NAMES["o200k_base"])


def test_corrupted_file_is_skipped_and_left_alone(
    no_files_anywhere: Path, tiktoken_files: Path, tmp_path: Path, no_network: list[str]
) -> None:
    corrupted = _copy_files(tiktoken_files, tmp_path / "corrupted")
    intact = _copy_files(tiktoken_files, tmp_path / "intact")
    damaged = corrupted / FILE_NAMES["o200k_base"]
    data = bytearray(damaged.read_bytes())
    data[1000] ^= 0x01
    damaged.write_bytes(bytes(data))

    counter = TiktokenCounter("o200k_base", cache_dirs=[corrupted, intact])

    assert counter.source == str(intact / FILE_NAMES["o200k_base"])
    assert damaged.read_bytes() == bytes(data)
    forget_encodings()
    with pytest.raises(
        ConfigurationError, match="no verified tiktoken file for o200k_base"
    ) as error:
        TiktokenCounter("o200k_base", cache_dirs=[corrupted])
    assert f"skipped {damaged}: its sha256 is not {SHA256['o200k_base']}" in str(error.value)
    assert damaged.read_bytes() == bytes(data)
    assert no_network == []


def test_missing_files_give_an_estimate_and_one_warning(
    no_files_anywhere: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    no_network: list[str],
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    with caplog.at_level(logging.WARNING, logger="multisession"):
        first = token_counter("gpt-4o", cache_dirs=[empty])
        second = token_counter("gpt-4", cache_dirs=[empty])

    assert isinstance(first, EstimatingCounter)
    assert isinstance(second, EstimatingCounter)
    [record] = caplog.records
    assert (record.name, record.levelname) == ("multisession", "WARNING")
    message = record.getMessage()
    assert "estimated" in message
    assert "pip install 'llama-index-core>=0.13'" in message
    assert "MULTISESSION_TIKTOKEN_DIR" in message
    assert FILE_NAMES["o200k_base"] in message
    assert str(empty) in message
    assert no_network == []
    assert list(empty.iterdir()) == []


def test_missing_tiktoken_gives_an_estimate_that_names_the_fix(
    fresh_process: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken now fails

    with caplog.at_level(logging.WARNING, logger="multisession"):
        counter = token_counter("gpt-4o")

    assert isinstance(counter, EstimatingCounter)
    [record] = caplog.records
    assert "pip install 'tiktoken>=0.8'" in record.getMessage()


def test_tiktoken_too_old_for_the_pattern_is_a_configuration_error(
    fresh_process: None, tiktoken_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def old_encoding(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("regex parse error: possessive quantifier")

    monkeypatch.setattr(tiktoken, "Encoding", old_encoding)

    with pytest.raises(ConfigurationError, match=r"pip install 'tiktoken>=0\.8'"):
        TiktokenCounter("gpt-4o", cache_dirs=[tiktoken_files])


def test_strict_counter_raises_instead_of_estimating(no_files_anywhere: Path) -> None:
    with pytest.raises(ConfigurationError, match="MULTISESSION_TIKTOKEN_DIR"):
        TiktokenCounter("gpt-4o")


def test_both_encodings_load_without_the_network(
    fresh_process: None, no_network: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)

    counters = {model: token_counter(model, allow_download=True) for model in ("gpt-4o", "gpt-4")}

    assert [type(counter) for counter in counters.values()] == [TiktokenCounter] * 2
    assert counters["gpt-4o"].count("hello world") == 2
    assert no_network == []


def test_llama_index_is_found_without_being_imported(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from multisession.context.tokens import TiktokenCounter\n"
        "counter = TiktokenCounter('gpt-4o')\n"
        "assert 'llama_index' in counter.source, counter.source\n"
        "loaded = sorted(name for name in sys.modules if name.startswith('llama_index'))\n"
        "assert not loaded, loaded\n"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MULTISESSION_TIKTOKEN_DIR", "TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")
    }
    environment.update(PYTHONPATH=str(REPO_ROOT), TMPDIR=str(tmp_path))

    subprocess.run([sys.executable, "-c", script], env=environment, cwd=tmp_path, check=True)


def test_each_request_is_answered_once_per_process(
    no_files_anywhere: Path, tiktoken_files: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "filled-later"
    folder.mkdir()

    with caplog.at_level(logging.WARNING, logger="multisession"):
        first = token_counter("gpt-4o", cache_dirs=[folder])
        _copy_files(tiktoken_files, folder)
        again = token_counter("gpt-4o", cache_dirs=[folder])  # the search is not repeated
        forget_encodings()
        after_restart = token_counter("gpt-4o", cache_dirs=[folder])

    assert [type(first), type(again)] == [EstimatingCounter, EstimatingCounter]
    assert isinstance(after_restart, TiktokenCounter)
    assert after_restart.source == str(folder / FILE_NAMES["o200k_base"])
    assert len(caplog.records) == 1


def test_encodings_load_once_when_threads_race(fresh_process: None, tiktoken_files: Path) -> None:
    results: list[TokenCounter] = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        results.append(token_counter("gpt-4o", cache_dirs=[tiktoken_files]))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert len({id(counter._encoding) for counter in results}) == 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- downloading


def test_allowed_download_is_verified_and_saved(
    no_files_anywhere: Path,
    tiktoken_files: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = (tiktoken_files / FILE_NAMES["cl100k_base"]).read_bytes()
    requested: list[tuple[str, float]] = []

    def urlopen(url: str, timeout: float) -> io.BytesIO:
        requested.append((url, timeout))
        return io.BytesIO(payload)

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    saved = tmp_path / "saved"
    monkeypatch.setenv("MULTISESSION_TIKTOKEN_DIR", str(saved))

    counter = TiktokenCounter("gpt-4", allow_download=True, download_timeout=5)

    assert requested == [(_tiktoken_files.ENCODINGS["cl100k_base"].url, 5)]
    assert counter.source == _tiktoken_files.ENCODINGS["cl100k_base"].url
    assert (saved / FILE_NAMES["cl100k_base"]).read_bytes() == payload
    assert [path.name for path in saved.iterdir()] == [FILE_NAMES["cl100k_base"]]
    forget_encodings()
    assert TiktokenCounter("gpt-4").source == str(saved / FILE_NAMES["cl100k_base"])


def test_download_that_cannot_be_saved_is_still_used(
    no_files_anywhere: Path, tiktoken_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = (tiktoken_files / FILE_NAMES["cl100k_base"]).read_bytes()
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: io.BytesIO(payload))
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("in the way")
    monkeypatch.setenv("MULTISESSION_TIKTOKEN_DIR", str(not_a_folder))

    counter = TiktokenCounter("gpt-4", allow_download=True)

    assert counter.count("hello world") == 2
    assert not_a_folder.read_text() == "in the way"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["not-a-folder", "tempdir"]


def test_download_with_a_wrong_hash_is_refused(
    no_files_anywhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: io.BytesIO(b"bm90IGl0 0\n"))

    with pytest.raises(ConfigurationError, match="hash check"):
        TiktokenCounter("gpt-4", allow_download=True)
    assert list(no_files_anywhere.iterdir()) == []


def test_allowed_download_gives_up_behind_a_silent_proxy(
    no_files_anywhere: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as silent_proxy:
        silent_proxy.bind(("127.0.0.1", 0))
        silent_proxy.listen()  # accepts connections, never answers
        proxy = f"http://127.0.0.1:{silent_proxy.getsockname()[1]}"
        for variable in ("https_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(variable, proxy)
        for variable in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(variable, raising=False)

        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="multisession"):
            counter = token_counter("gpt-4o", allow_download=True, download_timeout=0.5)
        elapsed = time.monotonic() - started

    assert isinstance(counter, EstimatingCounter)
    assert elapsed < 5
    [record] = caplog.records
    assert "could not download" in record.getMessage()


# --------------------------------------------------------------------------- the estimate


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_estimate_never_undercounts_badly(
    encoding: str, reference: dict[str, tiktoken.Encoding]
) -> None:
    estimate = EstimatingCounter()
    for text in SAMPLES:
        exact = len(reference[encoding].encode_ordinary(text))
        assert estimate.count(text) >= 0.7 * exact, text


def test_estimate_is_close_on_english_prose(reference: dict[str, tiktoken.Encoding]) -> None:
    prose = (
        "When the user comes back after a long break, the assistant should remember that "
        "she is allergic to peanuts, prefers window seats, and was planning a trip to "
        "Lisbon in the spring with two friends from university. "
    ) * 10
    estimate = EstimatingCounter().count(prose)
    for encoding in ENCODINGS:
        exact = len(reference[encoding].encode_ordinary(prose))
        assert exact <= estimate <= 1.5 * exact


def test_estimate_basics() -> None:
    counter = EstimatingCounter()

    assert counter.count("") == 0
    assert counter.count("a") == 1
    assert counter.count("lone \ud800 surrogate") >= 3
    assert counter.count("word " * 100) >= 100


# --------------------------------------------------------------------------- docs


def test_docstring_examples_run(no_network: list[str]) -> None:
    results = doctest.testmod(tokens, optionflags=doctest.ELLIPSIS)

    assert results.attempted >= 5
    assert results.failed == 0
    assert no_network == []
