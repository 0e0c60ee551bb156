"""A LangGraph store whose items are memories of the engine's users.

LangGraph agents keep long-term memory in a ``BaseStore`` (``create_agent(store=...)``,
``Runtime.store`` in tools and middleware). Backing that slot with the engine makes
store items ordinary memories: isolated per user inside every query, searched with
hybrid keyword + vector ranking, and covered by ``delete_user``, ``export_user`` and the
command line like every other memory.

How an item is kept: the namespace names its owner (by default its label at position
1, as in ``("memories", user_id)``); the namespace is the memory's scope (see
:func:`namespace_scope`), so a namespace prefix is a scope condition inside the
engine's query; the memory's id is derived from the owner, the namespace and the key;
its content is the text of the indexed fields (an item with none is of the kind
``<kind>_unindexed``, kept out of ranked searches); its metadata holds the namespace,
the key, the value and the expiry under ``"store"``. The class only
translates: filters, pages, ordering and ownership are the engine's queries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
)
from langgraph.store.base import validate_op_namespace as _validate_op_namespace

from multisession import Memory, MemoryEngine, MemoryInput, MemoryNotFoundError, ScoreBreakdown
from multisession._threads import to_thread

__all__ = ["MultiSessionSearchItem", "MultiSessionStore"]

#: The expiry of an item without a TTL (9999-12-31), so "not expired" is one comparison.
NEVER_EXPIRES: Final = 253_402_300_799.0

Namespace = tuple[str, ...]
OwnerOf = Callable[[Namespace], "str | None"]


class MultiSessionSearchItem(SearchItem):
    """A search result that also carries the engine's score breakdown.

    ``breakdown`` is None for results of a search without a query and for items stored
    with ``index=False`` (they have no score either).
    """

    __slots__ = ("breakdown",)

    def __init__(
        self,
        namespace: Namespace,
        key: str,
        value: dict[str, Any],
        created_at: datetime,
        updated_at: datetime,
        score: float | None = None,
        breakdown: ScoreBreakdown | None = None,
    ) -> None:
        super().__init__(namespace, key, value, created_at, updated_at, score)
        self.breakdown = breakdown


class MultiSessionStore(BaseStore):
    """LangGraph's long-term memory store, backed by a :class:`~multisession.MemoryEngine`.

    Example::

        engine = MemoryEngine("./memory-store")
        store = MultiSessionStore(engine)
        store.put(("memories", "alice"), "diet", {"text": "allergic to peanuts"})
        store.get(("memories", "alice"), "diet").value  # {'text': 'allergic to peanuts'}
        hits = store.search(("memories", "alice"), query="what can't she eat?")
        print(hits[0].key, hits[0].score, hits[0].breakdown)
        engine.export_user("alice")["memories"][0]["metadata"]["store"]["key"]  # 'diet'

    Ownership: every namespace maps to one user, whose memories its items become. By
    default the owner is the namespace's label at position 1 (``("memories", user_id,
    ...)``); ``owner=0`` reads ``(user_id, ...)``, and a callable ``namespace -> user
    id or None`` maps any other scheme. A namespace, or a search prefix, that names no
    owner is refused with an error: a search never spans users.

    Behaviour, as LangGraph's ``InMemoryStore`` documents it, with these choices:

    - ``search`` with a ``query`` is the engine's hybrid search (scores are its fused,
      recency-weighted scores, not cosine similarities; ``breakdown`` says why);
      items put with ``index=False`` follow the scored ones, unscored. Without a query,
      items come newest ``updated_at`` first.
    - ``filter`` matches the value's fields with ``$eq``, ``$ne``, ``$gt``, ``$gte``,
      ``$lt``, ``$lte`` and nested dicts, inside the query; lists are not matched.
    - What is indexed: the ``fields`` given here (LangGraph paths, e.g. ``"text"``,
      ``"facts[*].text"``), ``put(..., index=[...])`` per item, ``index=False`` for none.
      By default (``"$"``) the text of every string, number and bool in the value.
    - TTL in minutes (``put(..., ttl=...)``, ``ttl={"default_ttl": ...}``); reads
      refresh it as ``refresh_ttl`` / ``refresh_on_read`` say (a refresh is a write:
      the item's ``updated_at`` moves); :meth:`sweep_ttl` deletes what expired and
      :meth:`start_ttl_sweeper` runs it every ``sweep_interval_minutes``.

    Args:
        engine: Where the items are kept.
        owner: Which namespace label names the user, or a callable mapping a namespace
            (or a search prefix) to a user id, or None when it names none.
        fields: What of a value is indexed for ``query`` searches.
        kind: The kind of the memories that hold store items (at most 22 characters:
            items with nothing to index are of the kind ``<kind>_unindexed``).
        ttl: LangGraph's TTL settings.
        clock: Returns the current time for TTLs (timezone-aware); tests pass a fake one.
    """

    supports_ttl = True

    def __init__(
        self,
        engine: MemoryEngine,
        *,
        owner: int | OwnerOf = 1,
        fields: Sequence[str] = ("$",),
        kind: str = "store",
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(engine, MemoryEngine):
            raise TypeError(
                f"engine must be a MemoryEngine, got {type(engine).__name__}: "
                "MultiSessionStore(MemoryEngine('./memory-store'))"
            )
        if isinstance(owner, bool) or not (
            callable(owner) or (isinstance(owner, int) and owner >= 0)
        ):
            raise TypeError(
                "owner must be the position of the user's label in a namespace (an int "
                f">= 0) or a callable namespace -> user id, got {owner!r}"
            )
        if isinstance(fields, str) or not fields:
            raise TypeError(
                f"fields must be a non-empty list of paths, e.g. ['text'], got {fields!r}"
            )
        self.engine = engine
        self._owner = owner
        self.fields = tuple(fields)
        if len(kind) > 22:
            raise ValueError(
                f"kind {kind!r} is too long: at most 22 characters, so that the kind of "
                f"unindexed items, {kind + '_unindexed'!r}, is a valid kind"
            )
        self.kind = kind
        self.unindexed_kind = f"{kind}_unindexed"
        self._kinds = [self.kind, self.unindexed_kind]
        self.ttl_config = ttl
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._sweeper: threading.Thread | None = None
        self._stop_sweeper = threading.Event()

    # -- BaseStore -------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations; one result per operation, in their order.

        As in LangGraph's own stores, reads see the store as it was before the batch,
        and of several puts to one item the last wins; the puts are written after the
        reads.
        """
        ops = list(ops)
        for op in ops:
            _validate_op_namespace(op)
        results: list[Result] = []
        puts: dict[tuple[Namespace, str], PutOp] = {}
        for op in ops:
            if isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op
                results.append(None)
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise TypeError(f"unknown store operation {type(op).__name__}")
        self._put_many(puts.values())
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` in a worker thread, leaving the event loop free.

        An async ``llm`` of the engine (the lifecycle's decision on a put) is awaited on
        this event loop.
        """
        return await to_thread(self.batch, list(ops))

    # -- TTL -------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete every expired item of every user; returns how many."""
        expired = {"store": {"expires_at": {"$lte": self._now().timestamp()}}}
        swept = 0
        for user_id in self.engine.users():
            while page := self.engine.list(user_id, kinds=self._kinds, filter=expired, limit=500):
                for memory in page:
                    self._forget(user_id, memory.id)
                swept += len(page)
        return swept

    def start_ttl_sweeper(self, interval_minutes: float | None = None) -> None:
        """Sweep in a background thread every ``interval_minutes`` (default: the TTL config's)."""
        minutes = interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes")
        if not minutes or minutes <= 0:
            raise ValueError(
                "the TTL sweeper needs an interval: pass interval_minutes or "
                "ttl={'sweep_interval_minutes': ...}"
            )
        if self._sweeper is not None:
            return
        self._stop_sweeper.clear()

        def sweep() -> None:
            while not self._stop_sweeper.wait(minutes * 60):
                self.sweep_ttl()

        self._sweeper = threading.Thread(target=sweep, name="multisession-ttl", daemon=True)
        self._sweeper.start()

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the background sweeper; returns whether it has stopped."""
        if self._sweeper is None:
            return True
        self._stop_sweeper.set()
        self._sweeper.join(timeout)
        stopped = not self._sweeper.is_alive()
        if stopped:
            self._sweeper = None
        return stopped

    # -- translation -----------------------------------------------------------------

    def owner_of(self, namespace: Namespace) -> str | None:
        """The user a namespace (or a search prefix) belongs to, or None."""
        if callable(self._owner):
            return self._owner(namespace)
        return namespace[self._owner] if len(namespace) > self._owner else None

    def _require_owner(self, namespace: Namespace, what: str) -> str:
        user_id = self.owner_of(namespace)
        if not user_id:
            where = (
                f"its label at position {self._owner}"
                if isinstance(self._owner, int)
                else "the owner callable"
            )
            raise ValueError(
                f"{what} {namespace!r} names no user: MultiSessionStore reads the user from "
                f"{where} (e.g. ('memories', user_id)); name the user in the namespace, "
                "or pass owner=... to map namespaces to users differently"
            )
        return user_id

    def _now(self) -> datetime:
        return self._clock()

    def _get(self, op: GetOp) -> Item | None:
        user_id = self._require_owner(op.namespace, "namespace")
        memory = self._read(user_id, op.namespace, op.key)
        if memory is None:
            return None
        if op.refresh_ttl:
            memory = self._refresh(user_id, memory)
        return _item(memory)

    def _read(self, user_id: str, namespace: Namespace, key: str) -> Memory | None:
        try:
            memory = self.engine.get(user_id, _memory_id(user_id, namespace, key))
        except MemoryNotFoundError:
            return None
        stored = memory.metadata.get("store") or {}
        if memory.kind not in self._kinds or tuple(stored.get("namespace", ())) != namespace:
            return None
        if (
            self._omit_expired()
            and stored.get("expires_at", NEVER_EXPIRES) <= self._now().timestamp()
        ):
            return None
        return memory

    def _put_many(self, ops: Iterable[PutOp]) -> None:
        """Write puts: per user, new items in one ``add_many``, the others one by one."""
        new: dict[str, dict[str, tuple[MemoryInput, PutOp]]] = {}
        for op in ops:
            user_id = self._require_owner(op.namespace, "namespace")
            memory_id = _memory_id(user_id, op.namespace, op.key)
            if op.value is None:
                self._forget(user_id, memory_id)
            else:
                new.setdefault(user_id, {})[memory_id] = (self._memory_input(op, memory_id), op)
        for user_id, items in new.items():
            added = self.engine.add_many(
                user_id, [item for item, _ in items.values()], skip_existing=True
            )
            for memory in added:
                items.pop(memory.id)
            for memory_id, (item, _) in items.items():
                self.engine.update(
                    user_id, memory_id, content=item.content, kind=item.kind, metadata=item.metadata
                )

    def _memory_input(self, op: PutOp, memory_id: str) -> MemoryInput:
        if not isinstance(op.value, Mapping):
            raise TypeError(f"a store value is a dict, got {type(op.value).__name__}")
        value = dict(op.value)
        paths = self.fields if op.index is None else (() if op.index is False else op.index)
        text = _indexed_text(value, paths)
        ttl = op.ttl
        expires_at = (
            (self._now() + timedelta(minutes=ttl)).timestamp() if ttl is not None else NEVER_EXPIRES
        )
        metadata = {
            "store": {
                "namespace": list(op.namespace),
                "key": op.key,
                "value": value,
                "ttl_minutes": ttl,
                "expires_at": expires_at,
            }
        }
        # A memory needs content: an unindexed item keeps its key there, and its kind
        # keeps it out of ranked searches.
        return MemoryInput(
            text or op.key or "-",
            kind=self.kind if text else self.unindexed_kind,
            metadata=metadata,
            id=memory_id,
            scope=namespace_scope(op.namespace),
        )

    def _forget(self, user_id: str, memory_id: str) -> None:
        with contextlib.suppress(MemoryNotFoundError):
            self.engine.delete(user_id, memory_id)

    def _search(self, op: SearchOp) -> list[SearchItem]:
        user_id = self._require_owner(op.namespace_prefix, "search prefix")
        # The prefix's scope holds its own items and, nested in it, those of the
        # namespaces below it.
        scope = namespace_scope(op.namespace_prefix) if op.namespace_prefix else None
        stored: dict[str, Any] = {}
        if op.filter:
            stored["value"] = dict(op.filter)
        if self._omit_expired():
            stored["expires_at"] = {"$gt": self._now().timestamp()}
        if op.limit <= 0 or op.offset < 0:
            return []
        results: list[SearchItem] = []
        skip = op.offset
        if op.query:
            hits = self.engine.search(
                user_id,
                op.query,
                k=op.offset + op.limit,
                kinds=[self.kind],
                scope=scope,
                filter={"store": stored} if stored else None,
                # A store's search ranks every item, like LangGraph's InMemoryStore: no
                # relevance floor.
                min_relevance=0.0,
            )
            for hit in hits[op.offset :]:
                memory = self._refresh(user_id, hit.memory) if op.refresh_ttl else hit.memory
                results.append(_search_item(memory, hit.score, hit.breakdown))
            if len(results) >= op.limit:
                return results
            # Like InMemoryStore: unindexed items fill the page after the scored ones.
            skip = max(
                0,
                op.offset
                - self.engine.count(
                    user_id,
                    kinds=[self.kind],
                    scope=scope,
                    filter={"store": stored} if stored else None,
                ),
            )
        memories = self.engine.list(
            user_id,
            # After the scored items, only the unindexed ones are left to list.
            kinds=[self.unindexed_kind] if op.query else self._kinds,
            scope=scope,
            filter={"store": stored} if stored else None,
            limit=op.limit - len(results),
            offset=skip,
            order_by="updated_at",
        )
        for memory in memories:
            memory = self._refresh(user_id, memory) if op.refresh_ttl else memory
            results.append(_search_item(memory, None, None))
        return results

    def _list_namespaces(self, op: ListNamespacesOp) -> list[Namespace]:
        conditions = op.match_conditions or ()
        # A prefix that names a user confines the listing to that user's items.
        named = {self.owner_of(tuple(c.path)) for c in conditions if c.match_type == "prefix"} - {
            None,
            "*",
        }
        users = sorted(user for user in named if user is not None) or self.engine.users()
        found: set[Namespace] = set()
        for user_id in users:
            for namespace in self._namespaces_of(user_id):
                if all(_matches(condition, namespace) for condition in conditions):
                    found.add(namespace[: op.max_depth] if op.max_depth else namespace)
        ordered = sorted(found)
        return ordered[op.offset : op.offset + op.limit]

    def _namespaces_of(self, user_id: str) -> set[Namespace]:
        stored: dict[str, Any] = {}
        if self._omit_expired():
            stored["expires_at"] = {"$gt": self._now().timestamp()}
        namespaces: set[Namespace] = set()
        offset = 0
        while page := self.engine.list(
            user_id,
            kinds=self._kinds,
            filter={"store": stored} if stored else None,
            limit=1000,
            offset=offset,
        ):
            namespaces.update(tuple(m.metadata["store"]["namespace"]) for m in page)
            offset += len(page)
        return namespaces

    def _refresh(self, user_id: str, memory: Memory) -> Memory:
        stored = dict(memory.metadata.get("store") or {})
        ttl = stored.get("ttl_minutes")
        if ttl is None:
            return memory
        stored["expires_at"] = (self._now() + timedelta(minutes=ttl)).timestamp()
        return self.engine.update(user_id, memory.id, metadata={**memory.metadata, "store": stored})

    def _omit_expired(self) -> bool:
        return bool((self.ttl_config or {}).get("omit_expired", False))


def namespace_scope(namespace: Namespace) -> str:
    """The engine scope of a namespace: its labels joined by ``/``, each escaped.

    A namespace's items are then found by its scope, and a prefix's scope holds the
    scopes of every namespace below it (``"memories/alice"`` holds
    ``"memories/alice/work"``). ``%`` and ``/`` inside a label are written ``%25`` and
    ``%2F``, so that ``("a/b",)`` and ``("a", "b")`` stay apart.

    Example:
        >>> namespace_scope(("memories", "alice", "a/b"))
        'memories/alice/a%2Fb'
    """
    return "/".join(label.replace("%", "%25").replace("/", "%2F") for label in namespace)


def _memory_id(user_id: str, namespace: Namespace, key: str) -> str:
    """The memory id of an item: the same owner, namespace and key give the same id."""
    source = json.dumps([user_id, list(namespace), key], ensure_ascii=False)
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:32]


def _indexed_text(value: Mapping[str, Any], paths: Sequence[str]) -> str:
    texts: list[str] = []
    for path in paths:
        if path == "$":
            texts.extend(_leaves(value))
        else:
            texts.extend(get_text_at_path(value, tokenize_path(path)))
    return "\n".join(text for text in texts if text.strip())


def _leaves(value: object) -> list[str]:
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _leaves(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _leaves(item)]
    if isinstance(value, str | int | float | bool):
        return [str(value)]
    return []


def _matches(condition: MatchCondition, namespace: Namespace) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    if not path:
        return True
    return all(want in ("*", have) for have, want in zip(part, path, strict=True))


def _item(memory: Memory) -> Item:
    stored = memory.metadata["store"]
    return Item(
        value=stored["value"],
        key=stored["key"],
        namespace=tuple(stored["namespace"]),
        created_at=memory.created_at,
        updated_at=memory.updated_at,
    )


def _search_item(
    memory: Memory, score: float | None, breakdown: ScoreBreakdown | None
) -> MultiSessionSearchItem:
    stored = memory.metadata["store"]
    return MultiSessionSearchItem(
        tuple(stored["namespace"]),
        stored["key"],
        stored["value"],
        memory.created_at,
        memory.updated_at,
        score,
        breakdown,
    )
