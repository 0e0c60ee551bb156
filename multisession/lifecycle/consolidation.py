"""Progressive consolidation: related episodes become one summary that links them.

A user's episodic memories (what happened, said on some day) pile up: ten turns about
one trip, each a memory. Consolidation groups the ones that share a topic (the cosine
of their stored vectors, or the overlap of their content words in a keyword-only
store) and lie close in time, and writes one ``summary`` memory per group of at least
``min_group``. The summary is extractive without an LLM (the group's most central
sentences, deduplicated, each with its date) and abstractive with one (one call per
group; an unusable reply falls back to the extractive text).

The originals are kept, marked with the summary they went into (``consolidated_into``);
a search that finds a summary with some of its sources lists the summary first, at the
best of their scores, and the originals stay reachable. Running it again writes nothing
new: groups whose memories are all consolidated are skipped. A memory that joins a group
later replaces that group's summary with a new one over the old sources and the new
memory (the old summary is superseded by it, reason ``"consolidation"``, and stays in
its history), so a group never has two current summaries.

This module plans; :mod:`multisession._maintenance_methods` writes through the engine's
indexer, so a summary is stored, embedded and indexed like any other memory.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..records import Memory, ScoreBreakdown
from ..storage.schema import memories_table
from .rules import content_words, normalise

__all__ = [
    "ConsolidationConfig",
    "ConsolidationGroup",
    "ConsolidationReport",
    "Episode",
    "SUMMARY_KIND",
    "extractive_summary",
    "group_episodes",
    "load_episodes",
    "plan_groups",
    "prefer_summaries",
]

logger = logging.getLogger("multisession")

#: The kind of the memories consolidation writes.
SUMMARY_KIND = "summary"
#: Why a summary replaced by a fuller one was superseded.
REASON = "consolidation"

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class ConsolidationConfig:
    """Which memories consolidation groups, and how.

    Attributes:
        kinds: The episodic kinds it groups (``"episode"`` by default). Preferences and
            facts are current truths, not events: add them here only on purpose.
        min_group: The fewest memories a group needs for a summary.
        max_group: The most memories one group takes (a bigger topic makes several).
        window: How far apart in time two neighbouring memories of a group may lie.
        similarity: The cosine of stored vectors from which a memory joins a group
            (compared with the group's mean vector).
        keyword_similarity: The same for memories without vectors, on the cosine of
            their content words weighted by rarity.
        max_sentences: How many sentences an extractive summary keeps at most.
        max_chars: The longest summary written (an LLM's longer reply is not used).
        use_llm: Let the engine's (or the call's) LLM write abstractive summaries.
        skip_sensitive: Leave memories of the ``"sensitive"`` privacy class out, so
            that no summary repeats them.
        source_weight: What search multiplies a consolidated original's final score
            by (1: not at all).
        summary_first: A summary found with some of its sources takes the best of
            their scores and is listed before them; off, it keeps its own score.
    """

    kinds: tuple[str, ...] = ("episode",)
    min_group: int = 3
    max_group: int = 12
    window: timedelta = timedelta(days=7)
    similarity: float = 0.55
    keyword_similarity: float = 0.15
    max_sentences: int = 4
    max_chars: int = 1200
    use_llm: bool = True
    skip_sensitive: bool = True
    source_weight: float = 1.0
    summary_first: bool = True

    def __post_init__(self) -> None:
        if not self.kinds or not all(isinstance(kind, str) and kind for kind in self.kinds):
            raise ValueError("kinds must name at least one memory kind, e.g. ('episode',)")
        if SUMMARY_KIND in self.kinds:
            raise ValueError(f"kinds must not include {SUMMARY_KIND!r}: summaries are its output")
        if not 2 <= self.min_group <= self.max_group:
            raise ValueError(
                f"min_group must be at least 2 and at most max_group, got {self.min_group}"
            )
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise ValueError("window must be a positive timedelta, e.g. timedelta(days=7)")
        for name in ("similarity", "keyword_similarity", "source_weight"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
        if self.max_sentences < 1 or self.max_chars < 40:
            raise ValueError("max_sentences must be at least 1 and max_chars at least 40")


@dataclass(frozen=True)
class Episode:
    """A memory consolidation may group (or a summary it wrote)."""

    id: str
    content: str
    kind: str
    at: datetime
    conversation_id: str | None
    scope: str | None
    consolidated_into: str | None
    metadata: dict[str, Any]
    vector: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True)
class ConsolidationGroup:
    """One group found, and the summary written (or that would be) for it.

    Attributes:
        source_ids: The memories the summary covers, oldest first.
        content: The summary's text.
        method: ``"extractive"`` or ``"llm"``.
        replaces: Earlier summaries of (part of) this group that the new one supersedes.
        summary_id: The summary written; None on a dry run.
    """

    source_ids: tuple[str, ...]
    content: str
    method: str
    replaces: tuple[str, ...] = ()
    summary_id: str | None = None
    scope: str | None = None
    conversation_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "source_ids": list(self.source_ids),
            "content": self.content,
            "method": self.method,
            "replaces": list(self.replaces),
            "summary_id": self.summary_id,
            "scope": self.scope,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class ConsolidationReport:
    """What :meth:`MemoryEngine.consolidate` found and wrote.

    Attributes:
        user_id: Whose memories.
        dry_run: True if nothing was written.
        considered: How many memories of the episodic kinds were looked at.
        groups: The groups that got a new summary (or would have).
    """

    user_id: str
    dry_run: bool
    considered: int
    groups: list[ConsolidationGroup] = field(default_factory=list)

    @property
    def written(self) -> int:
        """How many summaries were written (0 on a dry run)."""
        return sum(group.summary_id is not None for group in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "user_id": self.user_id,
            "dry_run": self.dry_run,
            "considered": self.considered,
            "written": self.written,
            "groups": [group.to_dict() for group in self.groups],
        }


# -- reading -----------------------------------------------------------------------------


def load_episodes(
    conn: Connection,
    user_id: str,
    config: ConsolidationConfig,
    dimension: int | None,
) -> tuple[list[Episode], dict[str, Episode]]:
    """The user's current memories to group, and their current summaries by id."""
    columns = memories_table.c
    kinds = [*config.kinds, SUMMARY_KIND]
    statement = sa.select(
        columns.id,
        columns.content,
        columns.kind,
        columns.created_at,
        columns.valid_from,
        columns.conversation_id,
        columns.scope,
        columns.consolidated_into,
        columns.metadata,
        columns.sensitivity,
        columns.embedding,
    ).where(
        columns.user_id == user_id,
        columns.superseded_at.is_(None),
        columns.kind.in_(kinds),
        # Encrypted memories (see storage/encryption.py) are left out: a summary would
        # repeat their words where their own encryption no longer covers them.
        columns.sealed.is_(None),
    )
    episodes: list[Episode] = []
    summaries: dict[str, Episode] = {}
    for row in conn.execute(statement):
        if row.kind != SUMMARY_KIND and config.skip_sensitive and row.sensitivity == "sensitive":
            continue
        vector = None
        if (
            dimension is not None
            and row.embedding is not None
            and len(row.embedding) == 4 * dimension
        ):
            vector = np.frombuffer(row.embedding, dtype="<f4").astype(np.float32)
        episode = Episode(
            id=row.id,
            content=row.content,
            kind=row.kind,
            at=row.valid_from or row.created_at,
            conversation_id=row.conversation_id,
            scope=row.scope,
            consolidated_into=row.consolidated_into,
            metadata=dict(row.metadata or {}),
            vector=vector,
        )
        if row.kind == SUMMARY_KIND:
            if "sources" in episode.metadata:
                summaries[row.id] = episode
        else:
            episodes.append(episode)
    episodes.sort(key=lambda episode: (episode.at, episode.id))
    return episodes, summaries


# -- grouping ----------------------------------------------------------------------------


class _Terms:
    """Content words weighted by rarity among the memories grouped (unit vectors)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.words = [content_words(text) for text in texts]
        counts: Counter[str] = Counter(word for words in self.words for word in words)
        total = max(len(texts), 1)
        # 1 + log(N / df): a word every memory has still counts (a user's memories may
        # all be about one trip), a rare one counts more.
        self.idf = {word: 1.0 + math.log(total / count) for word, count in counts.items()}

    def vector(self, words: frozenset[str]) -> dict[str, float]:
        weights = {word: self.idf.get(word, 1.0) for word in words}
        norm = math.sqrt(sum(weight * weight for weight in weights.values()))
        return {word: weight / norm for word, weight in weights.items()} if norm else {}


def _dot(left: dict[str, float], right: dict[str, float]) -> float:
    if len(left) > len(right):
        left, right = right, left
    return sum(weight * right.get(word, 0.0) for word, weight in left.items())


def _norm(values: dict[str, float]) -> float:
    return math.sqrt(sum(weight * weight for weight in values.values()))


@dataclass
class _Group:
    members: list[Episode] = field(default_factory=list)
    vector_sum: npt.NDArray[np.float32] | None = None
    term_sum: dict[str, float] = field(default_factory=dict)


def group_episodes(episodes: Sequence[Episode], config: ConsolidationConfig) -> list[list[Episode]]:
    """Related memories close in time, in groups (of any size), oldest first.

    Memories are taken in time order; each joins the most similar open group of its
    scope (one whose newest memory is at most ``window`` older, and not full) if the
    similarity reaches the threshold, else it starts a group. Memories of different
    scopes never share a group, so a summary is seen exactly where its sources are.
    Deterministic: the same memories give the same groups.
    """
    terms = _Terms([episode.content for episode in episodes])
    groups: list[_Group] = []
    # Memories come in time order: a group whose newest memory is more than a window
    # older than this one is closed for good, so each memory is compared with the few
    # groups of the last window only.
    open_groups: list[_Group] = []
    for position, episode in enumerate(episodes):
        words = terms.vector(terms.words[position])
        open_groups = [
            group
            for group in open_groups
            if episode.at - group.members[-1].at <= config.window
            and len(group.members) < config.max_group
        ]
        best: _Group | None = None
        best_score = 0.0
        for group in open_groups:
            if group.members[-1].scope != episode.scope:
                continue
            score = _similarity(episode, words, group, config)
            if score > best_score:
                best, best_score = group, score
        if best is None:
            best = _Group()
            groups.append(best)
            open_groups.append(best)
        best.members.append(episode)
        if episode.vector is not None:
            best.vector_sum = (
                episode.vector.copy()
                if best.vector_sum is None
                else best.vector_sum + episode.vector
            )
        for word, weight in words.items():
            best.term_sum[word] = best.term_sum.get(word, 0.0) + weight
    return [group.members for group in groups]


def _similarity(
    episode: Episode, words: dict[str, float], group: _Group, config: ConsolidationConfig
) -> float:
    """How close a memory is to a group, as a share of the threshold (>= 1 joins)."""
    if episode.vector is not None and group.vector_sum is not None:
        norm = float(np.linalg.norm(group.vector_sum))
        cosine = float(episode.vector @ group.vector_sum) / norm if norm else 0.0
        share = cosine / config.similarity
    else:
        norm = _norm(group.term_sum)
        cosine = _dot(words, group.term_sum) / norm if norm else 0.0
        share = cosine / config.keyword_similarity
    return share if share >= 1.0 else 0.0


# -- summaries ---------------------------------------------------------------------------


def _date(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def extractive_summary(members: Sequence[Episode], config: ConsolidationConfig) -> str:
    """The group's most central sentences, deduplicated, in time order, each dated.

    A sentence's centrality is the cosine of its content words with the group's (words
    weighted by rarity within the group): the sentences that say what the group is about.
    """
    sentences: list[tuple[Episode, int, str]] = []
    for member in members:
        for position, sentence in enumerate(_SENTENCE.split(member.content.strip())):
            if sentence.strip():
                sentences.append((member, position, sentence.strip()))
    terms = _Terms([sentence for _, _, sentence in sentences])
    vectors = [terms.vector(words) for words in terms.words]
    centre: dict[str, float] = {}
    for vector in vectors:
        for word, weight in vector.items():
            centre[word] = centre.get(word, 0.0) + weight
    centre_norm = _norm(centre) or 1.0
    order = sorted(
        range(len(sentences)),
        key=lambda i: (-_dot(vectors[i], centre) / centre_norm, sentences[i][0].at, i),
    )
    chosen: list[int] = []
    seen_text: set[str] = set()
    for i in order:
        if len(chosen) >= config.max_sentences:
            break
        text = normalise(sentences[i][2])
        words = terms.words[i]
        if not text or text in seen_text:
            continue
        if any(_jaccard(words, terms.words[j]) >= 0.8 for j in chosen):
            continue
        chosen.append(i)
        seen_text.add(text)
    chosen.sort(key=lambda i: (sentences[i][0].at, sentences[i][0].id, sentences[i][1]))
    parts: list[str] = []
    length = 0
    for i in chosen:
        member, _, sentence = sentences[i]
        ending = "" if sentence[-1] in ".!?" else "."
        part = f"{_date(member.at)}: {sentence}{ending}"
        if parts and length + len(part) + 1 > config.max_chars:
            break
        parts.append(part)
        length += len(part) + 1
    text = " ".join(parts)
    return text if len(text) <= config.max_chars else text[: config.max_chars - 1] + "…"


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    union = left | right
    return len(left & right) / len(union) if union else 1.0


_LLM_PROMPT = """\
Summarise these memories of one user into one short paragraph of at most {sentences} \
sentences. Keep who did what, names, numbers and every date (write dates out). Do not \
add anything they do not say. Reply with the summary only.

{items}
"""


def llm_summary(
    members: Sequence[Episode],
    config: ConsolidationConfig,
    llm: Callable[[str], str],
    events: Counter[str],
) -> str | None:
    """An abstractive summary by one LLM call, or None if the call or its reply fails."""
    items = "\n".join(f"- {_date(member.at)}: {member.content}" for member in members)
    try:
        reply = llm(_LLM_PROMPT.format(sentences=config.max_sentences, items=items))
    except Exception:
        events["consolidation_llm_failed"] += 1
        logger.warning("the LLM failed to summarise a group; using extractive", exc_info=True)
        return None
    text = reply.strip() if isinstance(reply, str) else ""
    if not text or len(text) > config.max_chars or text[0] in "{[<":
        events["consolidation_llm_unusable"] += 1
        return None
    return text


# -- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedGroup:
    """A summary to write: its sources, the summaries it replaces, its text."""

    sources: list[Episode]
    replaces: list[str]
    content: str
    method: str


def plan_groups(
    episodes: Sequence[Episode],
    summaries: dict[str, Episode],
    config: ConsolidationConfig,
    summarise: Callable[[Sequence[Episode]], tuple[str, str]],
) -> list[PlannedGroup]:
    """The summaries to write: for groups with memories not yet consolidated.

    A group whose memories all went into summaries already is left alone (a second run
    writes nothing). A group with new memories and some already consolidated replaces
    those memories' summaries with one over all their sources and the new ones.
    """
    by_id = {episode.id: episode for episode in episodes}
    planned: list[PlannedGroup] = []
    # A summary is replaced once per run, and a memory goes into one summary: a later
    # group leaves out what an earlier one took.
    taken: set[str] = set()
    replaced_now: set[str] = set()
    for members in group_episodes(episodes, config):
        members = [m for m in members if m.id not in taken]
        fresh = [m for m in members if m.consolidated_into not in summaries]
        if not fresh:
            continue
        replaced = sorted(
            {
                str(m.consolidated_into)
                for m in members
                if m.consolidated_into in summaries and m.consolidated_into not in replaced_now
            }
        )
        sources = {m.id: m for m in members if m.consolidated_into not in replaced_now}
        for summary_id in replaced:
            for source_id in summaries[summary_id].metadata.get("sources", []):
                if source_id in by_id and source_id not in taken:
                    sources[source_id] = by_id[source_id]
        if not replaced and len(fresh) < config.min_group:
            continue
        ordered = sorted(sources.values(), key=lambda m: (m.at, m.id))
        content, method = summarise(ordered)
        planned.append(PlannedGroup(ordered, replaced, content, method))
        taken.update(sources)
        replaced_now.update(replaced)
    return planned


# -- ranking -----------------------------------------------------------------------------


def prefer_summaries(
    hits: Sequence[tuple[Memory, ScoreBreakdown]], weight: float, summary_first: bool = True
) -> list[tuple[Memory, ScoreBreakdown]]:
    """Hits with each summary ahead of its sources found with it, best first.

    A summary found together with some of its sources takes the best of their final
    scores (and goes before them on a tie), so the group is read first in its compact
    form; the sources keep their own scores, times ``weight``, and their places
    relative to other memories. A summary or a source found alone is left as it is.
    """
    if not any(memory.consolidated_into for memory, _ in hits) or (
        weight >= 1.0 and not summary_first
    ):
        return list(hits)
    best: dict[str, float] = {}
    for memory, score in hits:
        if memory.consolidated_into:
            into = memory.consolidated_into
            best[into] = max(best.get(into, 0.0), score.final_score)
    changed: list[tuple[Memory, ScoreBreakdown]] = []
    for memory, score in hits:
        if memory.consolidated_into and weight < 1.0:
            score = replace(score, final_score=score.final_score * weight)
        elif summary_first and memory.id in best and best[memory.id] > score.final_score:
            score = replace(score, final_score=best[memory.id])
        changed.append((memory, score))
    return sorted(changed, key=lambda hit: (-hit[1].final_score, hit[0].kind != SUMMARY_KIND))
