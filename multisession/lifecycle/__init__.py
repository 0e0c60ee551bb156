"""Memory lifecycle: one current truth per fact, repeats folded in, history kept.

:mod:`.rules` reads which personal slot a memory fills; :mod:`.planner` decides on
every write what the new memories replace or repeat. :mod:`.consolidation` groups
related episodes into summaries and :mod:`.retention` selects what a policy deletes;
the engine runs both on the application's schedule. This layer sits beside retrieval
and extraction: it may use storage, retrieval and embeddings, never the context layer
or the engine.
"""

from .consolidation import ConsolidationConfig, ConsolidationGroup, ConsolidationReport
from .planner import LifecycleConfig, Planner
from .retention import RetentionItem, RetentionPolicy, RetentionReport
from .rules import Claim, claims, conflict

__all__ = [
    "Claim",
    "ConsolidationConfig",
    "ConsolidationGroup",
    "ConsolidationReport",
    "LifecycleConfig",
    "Planner",
    "RetentionItem",
    "RetentionPolicy",
    "RetentionReport",
    "claims",
    "conflict",
]
