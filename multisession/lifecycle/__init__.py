"""Memory lifecycle: one current truth per fact, repeats folded in, history kept.

:mod:`.rules` reads which personal slot a memory fills; :mod:`.planner` decides on
every write what the new memories replace or repeat. This layer sits beside retrieval
and extraction: it may use storage, retrieval and embeddings, never the context layer
or the engine.
"""

from .planner import LifecycleConfig, Planner
from .rules import Claim, claims, conflict

__all__ = ["Claim", "LifecycleConfig", "Planner", "claims", "conflict"]
