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

from ..errors import ConfigurationError

__all__ = ["PRESETS", "RetrievalConfig", "TemporalConfig"]


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
    weight: float = 0.05

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
            to the fusion.
        rrf_k: The reciprocal rank fusion constant ``k`` in ``sum w_i / (k + rank_i)``.
        bm25_weight: Weight of the keyword ranking in the fusion; 0 skips BM25.
        vector_weight: Weight of the vector ranking in the fusion; 0 skips the vector
            search (and the query embedding).
        temporal: Temporal weighting settings.
    """

    candidate_depth: int = 10
    rrf_k: float = 60.0
    bm25_weight: float = 1.0
    vector_weight: float = 1.0
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


#: Named presets. ``default`` is the measured best on LoCoMo (see benchmarks/README.md).
PRESETS: Mapping[str, RetrievalConfig] = MappingProxyType(
    {
        "default": RetrievalConfig(),
        "keyword": RetrievalConfig(vector_weight=0.0),
        "semantic": RetrievalConfig(bm25_weight=0.0),
        "timeless": RetrievalConfig(temporal=TemporalConfig(enabled=False)),
    }
)
