"""The engine's privacy methods: a report of what is stored by class, erasing a class.

Every memory and message is classified when it is written (see :mod:`multisession.privacy`)
and keeps its class and detector names in SQL; these methods read and act on those columns.
They live apart from the memory methods of :class:`~multisession.engine.MemoryEngine` so
that each file reads in one sitting; the engine class is the only one that mixes them in.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from . import _validation as check
from .errors import ConfigurationError, MemoryNotFoundError
from .privacy import SensitivityClassifier
from .records import Memory, MemoryFilter, ScoreBreakdown
from .retrieval.indexing import Indexer
from .storage.conversations import ConversationStore
from .storage.encryption import KEY_ID_SETTING, KeySource, as_master_key
from .storage.sensitivity import class_counts, erase_messages
from .storage.sql_store import SQLStore

__all__ = ["PrivacyMethods"]


class _Engine(Protocol):
    """What the methods use of the engine."""

    conversations: ConversationStore
    privacy: SensitivityClassifier | None

    def _now(self, now: datetime | None = None) -> datetime: ...
    @property
    def _store(self) -> SQLStore: ...
    @property
    def _indexer(self) -> Indexer: ...
    def _sensitivity_filter(
        self, where: MemoryFilter, sensitivity: str | Sequence[str] | None
    ) -> MemoryFilter: ...


class PrivacyMethods:
    """Reports, erasure by privacy class and encryption keys (mixed into the engine)."""

    def has_data_key(self: _Engine, user_id: str) -> bool:
        """Whether the user has a data key (encryption at rest is on and they were
        written for); False after :meth:`delete_user` destroyed it."""
        cipher = self._store.cipher
        ring = None if cipher is None else cipher.ring
        return ring is not None and ring.has_key(check.check_user_id(user_id))

    def rotate_encryption_key(self: _Engine, new_key: KeySource) -> int:
        """Re-wrap every user's data key with a new master key; returns how many.

        Content is never re-encrypted. A rotation that was interrupted (the process
        killed) loses nothing: open the engine with the new key and the old one in
        ``previous_encryption_keys``, and rotate again. Afterwards the store accepts
        the new key only.

        Raises:
            ConfigurationError: The engine was opened without a key.
        """
        cipher = self._store.cipher
        if cipher is None or cipher.ring is None:
            raise ConfigurationError(
                "rotate_encryption_key needs the current key: open the engine with "
                "encryption_key=... (or MULTISESSION_MASTER_KEY set)"
            )
        master = as_master_key(new_key)
        done = cipher.ring.rotate(master)
        self._store.replace_setting(KEY_ID_SETTING, master.key_id)
        return done

    def _destroy_data_key(self: _Engine, user_id: str, now: datetime) -> bool:
        """Destroy a deleted user's data key, and say so in the audit log; True if it did."""
        cipher = self._store.cipher
        if cipher is None or cipher.ring is None or not cipher.ring.destroy(user_id):
            return False
        self._store.audit("destroy_data_key", user_id, {}, now)
        return True

    def _sealed(self: _Engine, hits: Sequence[tuple[Memory, ScoreBreakdown]]) -> bool:
        """Whether any of these memories is stored encrypted (then not cached in Redis)."""
        cipher = self._store.cipher
        return cipher is not None and any(cipher.seals(memory.sensitivity) for memory, _ in hits)

    def privacy_report(self: _Engine, user_id: str) -> dict[str, Any]:
        """What is stored of a user, counted by class and by detector; never any content.

        Memories and messages stored before classification (or with it off) count as
        ``"unclassified"``.

        Returns:
            ``{"user_id", "classes", "memories": {...}, "messages": {...}}``, each part
            with ``total``, ``by_class`` and ``by_detector``.

        Raises:
            MemoryNotFoundError: The store holds nothing of this user.
        """
        user_id = check.check_user_id(user_id)
        if self._store.user_version(user_id) is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        counts = class_counts(self._store.engine, user_id)
        classes = self.privacy.classes if self.privacy is not None else None
        return {
            "user_id": user_id,
            "classes": list(classes) if classes is not None else None,
            **{name: part.to_dict() for name, part in counts.items()},
        }

    def forget_class(
        self: _Engine,
        user_id: str,
        sensitivity: str | Sequence[str],
        *,
        now: datetime | None = None,
    ) -> dict[str, int]:
        """Erase a user's memories and messages of one privacy class (or of several).

        Each memory goes as :meth:`delete` removes one: from SQL (overwritten on disk),
        the vector index and the keyword index, with an audit entry. Messages of the
        class are deleted too; their conversations drop their rolling summary (rebuilt
        from what remains) and the decisions and action items of the class. Rows stored
        unclassified are not touched: they have no class to match.

        Returns:
            ``{"memories": n, "messages": m}``, how many of each were erased.

        Raises:
            MemoryNotFoundError: The store holds nothing of this user.
            InvalidInputError: ``sensitivity`` names no class of the engine's.
        """
        user_id = check.check_user_id(user_id)
        where = self._sensitivity_filter(MemoryFilter(), sensitivity)
        assert where.sensitivity is not None
        if self._store.user_version(user_id) is None:
            raise MemoryNotFoundError(f"unknown user {user_id!r}")
        now = self._now(now)
        memories = 0
        for memory_id in sorted(self._store.filtered_ids(user_id, where)):
            memories += self._indexer.delete(user_id, memory_id, now)
        classes = set(where.sensitivity)
        classifier = self.privacy

        def is_of_class(text: str) -> bool:
            return classifier is not None and classifier.classify(text).sensitivity in classes

        messages = erase_messages(
            self._store.engine, user_id, where.sensitivity, is_of_class, self._store.cipher
        )
        self.conversations.forget_user(user_id)
        self._store.audit(
            "forget_class",
            user_id,
            {"classes": builtins.sorted(classes), "memories": memories, "messages": messages},
            now,
        )
        self._store.erase_journal()
        return {"memories": memories, "messages": messages}
