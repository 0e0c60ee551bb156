"""Token counting that works offline and never hangs.

:func:`token_counter` returns an exact :class:`TiktokenCounter` when a verified tiktoken
vocabulary file is on disk, and an :class:`EstimatingCounter` otherwise (logging one
warning per process that names the fix, in the terms of the framework whose adapter
builds the prompt: see :func:`counting_for`). It never lets tiktoken download anything:
tiktoken fetches its files with no timeout (a silent proxy makes it hang forever) and,
when a cached file fails its hash check, deletes it before downloading again.

Where the files are looked for, in this order (the first verified file wins):

1. the ``cache_dirs`` argument;
2. ``$MULTISESSION_TIKTOKEN_DIR`` (several folders separated by :data:`os.pathsep`);
3. tiktoken's own cache folders: ``$TIKTOKEN_CACHE_DIR``, ``$DATA_GYM_CACHE_DIR``;
4. the copy inside llama-index-core (``llama_index/core/_static/tiktoken_cache``,
   cl100k_base since 0.11, o200k_base since 0.13), found without importing llama_index;
5. tiktoken's default cache, ``<tempdir>/data-gym-cache``.

A file counts only if it carries tiktoken's cache name (the sha1 of its download URL)
and its sha256 equals the hash tiktoken pins; a corrupted file is skipped and left in
place. The :class:`tiktoken.Encoding` is then built from the file's bytes, so tiktoken's
download code is never entered and no environment variable is touched (the loading is
in :mod:`multisession.context._tiktoken_files`). What a search finds, or that it found
nothing, holds for the rest of the process: a file added later is used by the next one.

The budget rule used everywhere in multisession (OpenAI's published rule for the gpt-4
and gpt-4o families)::

    count_messages(messages) = sum(TOKENS_PER_MESSAGE + count(role) + count(content))
                               + REPLY_PRIMING

with ``TOKENS_PER_MESSAGE = 3`` and ``REPLY_PRIMING = 3`` (the tokens that open the
assistant's reply).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from .._log_once import warn_once
from ..errors import ConfigurationError, InvalidInputError
from ._tiktoken_files import ENCODINGS, TIKTOKEN_DIR_ENV, load_encoding

if TYPE_CHECKING:
    from ..records import ContextMessage

__all__ = [
    "REPLY_PRIMING",
    "Framework",
    "TIKTOKEN_DIR_ENV",
    "TOKENS_PER_MESSAGE",
    "EstimatingCounter",
    "TiktokenCounter",
    "TokenCounter",
    "counting_for",
    "encoding_for_model",
    "estimate_fix",
    "token_counter",
]

#: Who builds the prompt, for the fix an estimated count's warning names.
Framework = Literal["core", "langchain", "llamaindex"]

TOKENS_PER_MESSAGE = 3
"""Tokens every chat message costs on top of its role and content."""

REPLY_PRIMING = 3
"""Tokens that prime the assistant's reply, counted once per request."""


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens the way the target model does (or a safe estimate of it).

    Any object with these two methods will do, for example a wrapper around another
    model's tokenizer. ``count_messages`` should follow the budget rule in the module
    doc so that budgets mean the same thing everywhere.

    Example:
        >>> class WordCounter:
        ...     def count(self, text):
        ...         return len(text.split())
        ...     def count_messages(self, messages):
        ...         return sum(3 + self.count(m.role) + self.count(m.content) for m in messages) + 3
        >>> isinstance(WordCounter(), TokenCounter)
        True
    """

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        ...

    def count_messages(self, messages: Sequence[ContextMessage]) -> int:
        """Return the tokens a chat request with ``messages`` costs, overhead included.

        It adds up per message (a fixed priming plus each message's own cost, as chat
        formats do): the packer measures each history message once and sums them.
        """
        ...


# -- which encoding ---------------------------------------------------------------------


# tiktoken names o200k_harmony for gpt-oss; it differs from o200k_base only in special
# tokens, so ordinary text counts the same.
_SAME_ORDINARY_TEXT = {"o200k_harmony": "o200k_base"}
_DEFAULT_ENCODING = "cl100k_base"


def encoding_for_model(model: str) -> str:
    """Return the tiktoken encoding name for a model (or an encoding name itself).

    The model is looked up in tiktoken's own table (:mod:`tiktoken.model`): the gpt-4o,
    gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4 and gpt-oss families use ``o200k_base``; gpt-4,
    gpt-4-turbo, gpt-3.5-turbo and the text-embedding-3 models use ``cl100k_base``. A
    provider prefix (``openai/gpt-4o``, ``openai:gpt-4o``) and letter case are ignored.
    Unknown models, and the older models tiktoken gives another encoding, get
    ``cl100k_base``: it spends as many tokens as ``o200k_base`` or more on most text (far
    more on non-Latin scripts), so budgets computed with it err on the safe side.

    Args:
        model: A model name such as ``"gpt-4o-mini"``, or ``"cl100k_base"`` /
            ``"o200k_base"``.

    Returns:
        ``"o200k_base"`` or ``"cl100k_base"``.

    Raises:
        InvalidInputError: ``model`` is not a non-empty string, or names another
            encoding (only ``cl100k_base`` and ``o200k_base`` are supported).
        ConfigurationError: tiktoken is not installed.

    Example:
        >>> encoding_for_model("gpt-4o-mini")
        'o200k_base'
        >>> encoding_for_model("gpt-3.5-turbo")
        'cl100k_base'
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(f"model must be a non-empty string, got {model!r}")
    name = model.strip().lower()
    if name in ENCODINGS:
        return name
    if name.endswith("_base") or name in ("gpt2", "p50k_edit", "o200k_harmony"):
        raise InvalidInputError(
            f"encoding {model!r} is not supported; use one of {sorted(ENCODINGS)}"
        )
    name = name.rsplit("/", 1)[-1]  # "openai/gpt-4o", "azure/gpt-4o"
    provider, colon, rest = name.partition(":")
    if colon and provider != "ft" and rest:  # "openai:gpt-4o", but not "ft:gpt-4o:org::id"
        name = rest
    try:
        import tiktoken
    except ImportError as error:
        message = "tiktoken is not installed: pip install 'tiktoken>=0.8'"
        raise ConfigurationError(message) from error
    # A bare family name ("gpt-4.5", "gpt-oss") is also tried as tiktoken's prefix for it.
    for candidate in (name, name + "-"):
        try:
            encoding = tiktoken.encoding_name_for_model(candidate)
        except KeyError:
            continue
        encoding = _SAME_ORDINARY_TEXT.get(encoding, encoding)
        return encoding if encoding in ENCODINGS else _DEFAULT_ENCODING
    return _DEFAULT_ENCODING


# -- message rule, shared by every counter in this module -------------------------------


def _count_messages(count: Callable[[str], int], messages: Sequence[ContextMessage]) -> int:
    return (
        sum(
            TOKENS_PER_MESSAGE + count(message.role) + count(message.content)
            for message in messages
        )
        + REPLY_PRIMING
    )


# -- the exact counter --------------------------------------------------------------------


class TiktokenCounter:
    """Exact token counts from a tiktoken encoding built from a verified local file.

    Looks for the file as described in :mod:`multisession.context.tokens` and raises instead of
    estimating when there is none; use :func:`token_counter` for the forgiving version.
    Special-token strings such as ``<|endoftext|>`` in the text count as ordinary text.

    Example:
        >>> counter = TiktokenCounter("gpt-4o")
        >>> counter.encoding_name
        'o200k_base'
        >>> counter.count("I'm allergic to peanuts")
        4

    Args:
        model: A model name or an encoding name (see :func:`encoding_for_model`).
        cache_dirs: Folders to search before the standard ones.
        allow_download: When no verified file is found, download it (with a timeout),
            verify its hash and save it to ``$MULTISESSION_TIKTOKEN_DIR`` or tiktoken's
            cache. Off by default: multisession never touches the network unasked.
        download_timeout: Seconds the whole download may take.

    Raises:
        ConfigurationError: No verified file was found (and none could be downloaded),
            or tiktoken is not installed. The message names the fix.

    Attributes:
        encoding_name: ``"cl100k_base"`` or ``"o200k_base"``.
        source: Where the vocabulary was read from (a file path, or the URL). It is
            loaded once per process for the same arguments and shared by the counters
            made with them.
    """

    def __init__(
        self,
        model: str = "gpt-4o",
        *,
        cache_dirs: Sequence[str | os.PathLike[str]] | None = None,
        allow_download: bool = False,
        download_timeout: float = 10.0,
    ) -> None:
        self.encoding_name = encoding_for_model(model)
        if not (math.isfinite(download_timeout) and download_timeout > 0):
            raise InvalidInputError(
                f"download_timeout must be a positive number, got {download_timeout!r}"
            )
        if isinstance(cache_dirs, (str, os.PathLike)):
            raise InvalidInputError("cache_dirs must be a sequence of folders, not one path")
        self._encoding, self.source = load_encoding(
            self.encoding_name,
            cache_dirs=cache_dirs or (),
            allow_download=allow_download,
            timeout=download_timeout,
        )

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        return len(self._encoding.encode_ordinary(text))

    def count_messages(self, messages: Sequence[ContextMessage]) -> int:
        """Return the tokens a chat request with ``messages`` costs (see the module doc)."""
        return _count_messages(self.count, messages)

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.encoding_name!r}, source={self.source!r})"


# -- the estimate -------------------------------------------------------------------------

# Chunks shaped like tiktoken's pre-tokenizer: a word (with its leading space), a run of
# punctuation (with its leading space), up to three digits, a whitespace run.
_CHUNK = re.compile(r" ?[^\W\d_]+| ?[^\w\s]+|\d{1,3}|\s+|_+")


class EstimatingCounter:
    """A tokenizer-free estimate, tuned to over-count rather than under-count.

    The text is cut into chunks the way tiktoken's pre-tokenizer does, and each chunk
    costs: an ASCII word ``len / 5`` tokens (``len / 2.5`` when capitals appear inside
    it, as in identifiers or base64), a run of ASCII punctuation ``len / 1.5``, up to
    three digits 1, a whitespace run 1, a non-ASCII word one token per 2 UTF-8 bytes,
    other non-ASCII symbols (emoji) one per 1.5 bytes; every chunk at least 1, the sum
    rounded up. On the texts it was tuned on this gives 0.75x to 1.8x the exact
    cl100k_base count (low: base64; high: Thai) and 1.2x to 1.3x on English prose;
    o200k_base spends fewer tokens on most non-Latin scripts, so those are over-counted
    further. Prefer :class:`TiktokenCounter` whenever its files are available.

    Example:
        >>> counter = EstimatingCounter()
        >>> counter.count("I'm allergic to peanuts")
        7
    """

    def count(self, text: str) -> int:
        """Return an estimate of the number of tokens in ``text``."""
        total = 0.0
        for match in _CHUNK.finditer(text):
            chunk = match.group()
            if chunk.isspace():
                total += 1.0
                continue
            chunk = chunk.lstrip(" ")
            if chunk.isascii():
                if chunk[0].isalpha():
                    capitals_inside = any(char.isupper() for char in chunk[1:])
                    total += max(1.0, len(chunk) / (2.5 if capitals_inside else 5.0))
                elif chunk[0].isdigit():
                    total += 1.0
                else:
                    total += max(1.0, len(chunk) / 1.5)
            else:
                size = len(chunk.encode("utf-8", "surrogatepass"))
                total += max(1.0, size / 2.0 if chunk.isalpha() else size / 1.5)
        return math.ceil(total)

    def count_messages(self, messages: Sequence[ContextMessage]) -> int:
        """Return the estimated cost of a chat request (see the module doc)."""
        return _count_messages(self.count, messages)

    def __repr__(self) -> str:
        return "EstimatingCounter()"


# -- the forgiving entry point ----------------------------------------------------------


def token_counter(
    model: str = "gpt-4o",
    *,
    cache_dirs: Sequence[str | os.PathLike[str]] | None = None,
    allow_download: bool = False,
    download_timeout: float = 10.0,
) -> TokenCounter:
    """Return the best counter available offline for ``model``.

    An exact :class:`TiktokenCounter` when a verified file is found (see the module doc
    for where); otherwise an :class:`EstimatingCounter`, and a warning on the
    ``multisession`` logger, once per process, naming the fix. The search is done once
    per process for the same arguments, whatever it found: the first call takes about
    0.1 s for cl100k_base and 0.2 s for o200k_base, later ones microseconds, so calling
    this for every prompt is fine.

    Args:
        model: A model name or an encoding name (see :func:`encoding_for_model`).
        cache_dirs: Folders to search before the standard ones.
        allow_download: Allow one download, with a timeout, when no verified file is
            on disk (default: never touch the network).
        download_timeout: Seconds the whole download may take.

    Returns:
        A :class:`TokenCounter`.

    Example:
        >>> counter = token_counter("gpt-4o")
        >>> counter.count("hello world")
        2
    """
    try:
        return TiktokenCounter(
            model,
            cache_dirs=cache_dirs,
            allow_download=allow_download,
            download_timeout=download_timeout,
        )
    except ConfigurationError as error:
        framework = _framework.get()
        warn_once(
            f"token-estimate:{framework}",
            "token counts are estimated, not exact: %s. %s",
            str(error).split(". Fix: ", 1)[0],
            estimate_fix(framework, model),
        )
    return EstimatingCounter()


# -- which fix the warning names ----------------------------------------------------------

#: The framework whose adapter is building a prompt in this context (see
#: :func:`counting_for`); the core's own callers leave the default.
_framework: ContextVar[Framework] = ContextVar("multisession_framework", default="core")


@contextmanager
def counting_for(framework: Framework) -> Iterator[None]:
    """Within the block, an estimated token count warns with ``framework``'s fix.

    The adapters wrap their prompt building in it; the setting follows the context into
    worker threads started with :func:`asyncio.to_thread`.

    Args:
        framework: ``"core"``, ``"langchain"`` or ``"llamaindex"``.
    """
    token = _framework.set(framework)
    try:
        yield
    finally:
        _framework.reset(token)


def estimate_fix(framework: Framework, model: str = "gpt-4o") -> str:
    """What makes token counts exact, said the way a user of ``framework`` does it.

    Example:
        >>> estimate_fix("llamaindex", "gpt-4o")[:57]
        "Fix for LlamaIndex apps: pip install -U 'llama-index-core"
    """
    try:
        encoding = encoding_for_model(model)
    except (ConfigurationError, InvalidInputError):
        encoding = _DEFAULT_ENCODING
    folder = f"or set {TIKTOKEN_DIR_ENV} to a folder holding the {encoding} file"
    if framework == "langchain":
        return (
            "Fix for LangChain apps: run once "
            f"python -c \"import tiktoken; tiktoken.get_encoding('{encoding}')\" "
            "(tiktoken caches the file where multisession looks; set TIKTOKEN_CACHE_DIR "
            f"to keep it out of the temporary folder), {folder}"
        )
    if framework == "llamaindex":
        return (
            "Fix for LlamaIndex apps: pip install -U 'llama-index-core>=0.13' (it ships "
            f"the {encoding} file; the installed version lacks it), {folder}"
        )
    return (
        "Fix: pip install 'llama-index-core>=0.13' (it ships the files), "
        f"{folder}, or allow one download with token_counter({model!r}, "
        "allow_download=True)"
    )
