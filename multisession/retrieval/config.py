"""Retrieval settings: frozen dataclasses and named presets.

Change a setting for one call with :func:`dataclasses.replace`, never by mutating a
shared object::

    from dataclasses import replace
    from multisession import RetrievalConfig

    keyword_heavy = replace(RetrievalConfig(), vector_weight=0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ..errors import ConfigurationError
from .fusion import NORMALISATIONS, Normalisation

__all__ = ["FUSIONS", "PRESETS", "Fusion", "RetrievalConfig", "TemporalConfig"]

#: How the keyword and vector candidates are combined (see :mod:`.fusion`).
Fusion = Literal["convex", "rrf"]
FUSIONS: tuple[Fusion, ...] = ("convex", "rrf")


#: The widest neighbour window: each window held costs one more keyword index.
MAX_NEIGHBOUR_WINDOW = 8


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigurationError(message)


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class TemporalConfig:
    """How a memory's age enters its score (see :mod:`multisession.retrieval.decay`).

    Attributes:
        enabled: Off means every memory counts as new (multiplier 1.0).
        half_life_days: Age at which the decay curve reaches 0.5.
        floor: Lowest value of the decay curve.
        weight: Share of the score the curve may take away; 0 disables it, 1 is the
            plain multiplicative decay (which buries old memories: do not).
    """

    enabled: bool = True
    half_life_days: float = 30.0
    floor: float = 0.1
    weight: float = 0.1

    def __post_init__(self) -> None:
        _require(
            _finite(self.half_life_days) and self.half_life_days > 0,
            f"TemporalConfig.half_life_days must be a positive number, got {self.half_life_days!r}",
        )
        _require(
            _finite(self.floor) and 0.0 <= self.floor <= 1.0,
            f"TemporalConfig.floor must be between 0 and 1, got {self.floor!r}",
        )
        _require(
            _finite(self.weight) and 0.0 <= self.weight <= 1.0,
            f"TemporalConfig.weight must be between 0 and 1, got {self.weight!r}",
        )


@dataclass(frozen=True)
class RetrievalConfig:
    """Query-time settings of hybrid search.

    Attributes:
        candidate_depth: How many candidates each retriever (BM25, vector) contributes
            to the fusion (widened to the number of hits asked for); default 30.
        fusion: ``"convex"`` (default): weighted mean of normalised BM25 scores and
            cosine similarities, which keeps score margins; ``"rrf"``: weighted
            reciprocal rank fusion, ``sum w_i / (k + rank_i)``.
        normalisation: How convex fusion puts each side's scores on ``[0, 1]``:
            ``"max"`` divides by the side's best score, ``"min-max"`` stretches the
            side's candidates over the whole range (see :func:`.fusion.convex_fusion`).
        keyword_full_match: The share of a query's full keyword score (each of its
            terms once in a memory of average length: its idf mass, see
            :meth:`.bm25.BM25Index.full_match_score`) that counts as a full keyword
            match in convex fusion. The keyword side is normalised by the larger of its
            best score and this share, so a query whose best keyword match is weak (one
            common word of several) gives the keyword side a vote in proportion, not
            the full vote max normalisation would. 0 turns it off.
        rrf_k: The reciprocal rank fusion constant ``k`` (``fusion="rrf"`` only).
        bm25_weight: Weight of the keyword side in the fusion; 0 skips BM25.
        vector_weight: Weight of the vector side in the fusion; 0 skips the vector
            search (and the query embedding).
        neighbour_window: How many neighbouring memories of the same conversation on
            each side join a memory's keyword document (default 2; 0: the memory alone). The memory
            itself is what is returned; its neighbours only help it be found. Each
            window in use holds a keyword index of its own.
        date_boost: What a memory dated inside a date the query names ("in May 2023",
            "last week") has its score multiplied by (default 1.5); 1 turns it off. It boosts, never
            filters.
        slot_boost: What a current memory filling the personal slot the query asks
            about ("where do I live?": the memory that says where) has its score
            multiplied by (default 2.0; see :mod:`.slots`); such memories also join the
            candidates. 1 turns it off. It boosts, never filters.
        temporal: Temporal weighting settings.
    """

    candidate_depth: int = 30
    fusion: Fusion = "convex"
    normalisation: Normalisation = "max"
    keyword_full_match: float = 0.5
    rrf_k: float = 60.0
    bm25_weight: float = 1.0
    vector_weight: float = 1.0
    neighbour_window: int = 2
    date_boost: float = 1.5
    slot_boost: float = 2.0
    temporal: TemporalConfig = field(default_factory=TemporalConfig)

    def __post_init__(self) -> None:
        _require(
            isinstance(self.candidate_depth, int)
            and not isinstance(self.candidate_depth, bool)
            and 1 <= self.candidate_depth <= 10_000,
            "RetrievalConfig.candidate_depth must be an integer from 1 to 10000, "
            f"got {self.candidate_depth!r}",
        )
        _require(
            self.fusion in FUSIONS,
            f"RetrievalConfig.fusion must be one of {', '.join(map(repr, FUSIONS))}, "
            f"got {self.fusion!r}",
        )
        _require(
            self.normalisation in NORMALISATIONS,
            "RetrievalConfig.normalisation must be one of "
            f"{', '.join(map(repr, NORMALISATIONS))}, got {self.normalisation!r}",
        )
        _require(
            isinstance(self.neighbour_window, int)
            and not isinstance(self.neighbour_window, bool)
            and 0 <= self.neighbour_window <= MAX_NEIGHBOUR_WINDOW,
            "RetrievalConfig.neighbour_window must be an integer from 0 to "
            f"{MAX_NEIGHBOUR_WINDOW}, got {self.neighbour_window!r}",
        )
        _require(
            _finite(self.date_boost) and self.date_boost >= 1.0,
            "RetrievalConfig.date_boost must be a number >= 1 (1 turns it off), "
            f"got {self.date_boost!r}",
        )
        _require(
            _finite(self.slot_boost) and self.slot_boost >= 1.0,
            "RetrievalConfig.slot_boost must be a number >= 1 (1 turns it off), "
            f"got {self.slot_boost!r}",
        )
        _require(
            _finite(self.keyword_full_match) and 0.0 <= self.keyword_full_match <= 1.0,
            "RetrievalConfig.keyword_full_match must be a number from 0 to 1 (0 turns it "
            f"off), got {self.keyword_full_match!r}",
        )
        _require(
            _finite(self.rrf_k) and self.rrf_k >= 0,
            f"RetrievalConfig.rrf_k must be a number >= 0, got {self.rrf_k!r}",
        )
        for name in ("bm25_weight", "vector_weight"):
            value = getattr(self, name)
            _require(
                _finite(value) and value >= 0,
                f"RetrievalConfig.{name} must be a number >= 0, got {value!r}",
            )
        _require(
            self.bm25_weight > 0 or self.vector_weight > 0,
            "RetrievalConfig needs bm25_weight > 0 or vector_weight > 0 (both are 0)",
        )
        _require(
            isinstance(self.temporal, TemporalConfig),
            "RetrievalConfig.temporal must be a TemporalConfig, "
            f"got {type(self.temporal).__name__}",
        )


#: Named presets. ``default`` (= ``RetrievalConfig()``) is the measured best on LoCoMo:
#: convex fusion, candidate depth 30, neighbour window 2, date boost 1.5, slot boost 2,
#: temporal weight 0.1; ``recall`` is kept as its old name. ``rrf`` is the earlier default
#: (reciprocal rank fusion, depth 10, the memory alone as its keyword document, no date
#: or slot boost, temporal weight 0.05), which finds less but needs no score scale (see README "How
#: search ranks" and benchmarks/README.md).
PRESETS: Mapping[str, RetrievalConfig] = MappingProxyType(
    {
        "default": RetrievalConfig(),
        "recall": RetrievalConfig(),
        "rrf": RetrievalConfig(
            candidate_depth=10,
            fusion="rrf",
            neighbour_window=0,
            date_boost=1.0,
            slot_boost=1.0,
            temporal=TemporalConfig(weight=0.05),
        ),
        "keyword": RetrievalConfig(vector_weight=0.0),
        "semantic": RetrievalConfig(bm25_weight=0.0),
        "timeless": RetrievalConfig(temporal=TemporalConfig(enabled=False)),
    }
)
