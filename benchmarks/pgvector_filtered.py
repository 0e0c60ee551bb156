"""pgvector: one HNSW index for all users with the user as a filter, or one per big user?

The pgvector backend keeps one HNSW index over every user's vectors and scopes a search
with ``user_id = ?`` inside the query, pgvector's iterative index scans walking on until
enough of that user's rows are found. The alternative is a partial HNSW index per big
user (``WHERE user_id = '<user>'``): a graph of that user's rows alone, no filtering,
but one index per user above ``exact_vector_limit`` to create, drop and keep planned.
This measures both on the real schema, written through ``add_many`` with precomputed
vectors, and queried through :meth:`PgVectorIndex.query` (the SQL the backend sends):

* index build time and size (``pg_relation_size``);
* for each big user's queries, k=10, p50/p95 latency and recall@10 against the exact
  order (the same query with the index kept out, as the backend's own fallback);
* each index with the connection's ``plan_cache_mode`` left at ``auto`` (psycopg
  prepares a statement after its fifth run, and PostgreSQL may then switch it to a
  generic plan) and at ``force_custom_plan`` (what the backend sets), the latter at
  each ``--ef-search``; the index scans each run made (``pg_stat_user_indexes``) and
  the generic and custom plans its prepared statements got;
* which index the planner picks for the parameterised query under a custom and a
  generic plan (a generic plan sees ``user_id = $1``: it cannot prove a partial
  index's predicate, and sizes every user as the average one).

Usage::

    .venv/bin/python benchmarks/pgvector_filtered.py                      # 3 x 20k + 200 x 200
    .venv/bin/python benchmarks/pgvector_filtered.py --big-size 5000 --small-users 50
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import sqlalchemy as sa

try:  # imported as benchmarks.pgvector_filtered
    from ._scale import Corpus, TableEmbedder, create_database, percentile, pgvector_server
except ImportError:  # run as a script
    from _scale import (  # type: ignore[no-redef]
        Corpus,
        TableEmbedder,
        create_database,
        percentile,
        pgvector_server,
    )

BATCH = 500
GLOBAL_INDEX = "ix_ms_memories_embedding_hnsw"


def _users(args: argparse.Namespace) -> list[tuple[str, int]]:
    big = [(f"big-{n}", args.big_size) for n in range(args.big_users)]
    small = [(f"small-{n}", args.small_size) for n in range(args.small_users)]
    return big + small


def _load(
    engine: Any, corpus: Corpus, users: list[tuple[str, int]]
) -> tuple[float, dict[str, slice]]:
    """Write every user's memories; the corpus rows each user got."""
    rows: dict[str, slice] = {}
    start = 0
    started = time.perf_counter()
    for user, size in users:
        rows[user] = slice(start, start + size)
        for first in range(start, start + size, BATCH):
            engine.add_many(user, corpus.texts[first : min(first + BATCH, start + size)])
        start += size
    return time.perf_counter() - started, rows


def _execute(engine: Any, sql: str) -> float:
    started = time.perf_counter()
    with engine._store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(sql)
    return time.perf_counter() - started


def _size(engine: Any, names: list[str]) -> int:
    with engine._store.engine.connect() as conn:
        return sum(
            int(conn.exec_driver_sql(f"SELECT pg_relation_size('{name}')").scalar_one())
            for name in names
        )


def _exact(engine: Any, user: str, query: np.ndarray, k: int) -> set[str]:
    """The exact top k of one user, the index kept out as in the backend's fallback."""
    vector = "[" + ",".join(repr(float(x)) for x in query) + "]"
    with engine._store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id FROM ms_memories WHERE user_id = %s AND embedding_vector IS NOT NULL "
            "ORDER BY (embedding_vector <=> %s::vector) + 0 LIMIT %s",
            (user, vector, k),
        )
        return {row.id for row in rows}


def _measure(
    engine: Any,
    queries: dict[str, list[np.ndarray]],
    truth: dict[str, list[set[str]]],
    k: int,
    rounds: int,
    custom: bool,
    ef_search: int,
) -> tuple[list[float], float, str]:
    from multisession.records import MemoryFilter

    index = engine._vectors
    settings = engine._store.engine
    settings.dispose()  # fresh connections: no prepared statement kept from before
    mode = "force_custom_plan" if custom else "auto"

    def plan_cache(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET plan_cache_mode = {mode}")
            cursor.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        dbapi_connection.commit()

    sa.event.listen(settings, "connect", plan_cache)
    before = _index_scans(engine)
    everything = MemoryFilter()
    times: list[float] = []
    overlap: list[float] = []
    for user, vectors in queries.items():  # warm: graph pages in shared buffers
        for vector in vectors[:5]:
            index.query(user, vector, k, everything)
    for turn in range(rounds):
        for position in range(max(len(v) for v in queries.values())):
            for user, vectors in queries.items():
                started = time.perf_counter()
                hits = index.query(user, vectors[position], k, everything)
                times.append(time.perf_counter() - started)
                if turn == 0:
                    found = {doc_id for doc_id, _ in hits}
                    overlap.append(len(found & truth[user][position]) / k)
    prepared = _server_plans(engine)
    sa.event.remove(settings, "connect", plan_cache)
    settings.dispose()
    after = _index_scans(engine)
    used = ", ".join(
        f"{name} {after[name] - before.get(name, 0)}"
        for name in sorted(after)
        if after[name] > before.get(name, 0)
    )
    return times, float(np.mean(overlap)), f"index scans: {used}; prepared: {prepared}"


def _index_scans(engine: Any) -> dict[str, int]:
    """Scans per index of ms_memories so far (the statistics reach the view after ~1 s)."""
    time.sleep(1.5)
    with engine._store.engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        rows = conn.exec_driver_sql(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE relname = 'ms_memories'"
        )
        return {row[0]: int(row[1]) for row in rows}


_PLAN_SQL = (
    "SELECT id, embedding_vector <=> $2 AS distance FROM ms_memories "
    "WHERE user_id = $1 AND embedding_vector IS NOT NULL ORDER BY embedding_vector <=> $2 LIMIT 10"
)


def _plans(engine: Any, user: str, query: np.ndarray) -> dict[str, str]:
    """Which index the planner picks for the parameterised query, custom and generic."""
    vector = "[" + ",".join(repr(float(x)) for x in query) + "]"
    found: dict[str, str] = {}
    with engine._store.engine.connect() as conn:
        conn.exec_driver_sql(f"PREPARE ms_plan(text, vector) AS {_PLAN_SQL}")
        for mode in ("force_custom_plan", "force_generic_plan"):
            conn.exec_driver_sql(f"SET plan_cache_mode = {mode}")
            plan = "\n".join(
                row[0]
                for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE ms_plan('{user}', '{vector}')")
            )
            used = [
                line.split(" on ")[0].split("using ")[-1]
                for line in plan.splitlines()
                if "Index Scan using" in line
            ]
            found[mode] = used[0] if used else plan.splitlines()[0].strip()
        conn.exec_driver_sql("DEALLOCATE ms_plan")
        conn.exec_driver_sql("RESET plan_cache_mode")
        conn.rollback()
    return found


def _server_plans(engine: Any) -> str:
    """What the backend's own connections' prepared statements were planned as."""
    # psycopg prepares a statement after 5 runs on a connection; PostgreSQL may then
    # switch it to a generic plan. pg_prepared_statements is per connection, so ask
    # through each pooled connection in turn.
    pool = engine._store.engine.pool
    seen: list[str] = []
    connections = [pool.connect() for _ in range(pool.checkedin())]
    try:
        for record in connections:
            with record.cursor() as cursor:
                cursor.execute(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%<=>%' AND statement NOT LIKE '%+ 0%'"
                )
                seen.extend(f"generic {g} / custom {c}" for g, c in cursor.fetchall())
    finally:
        for record in connections:
            record.close()
    return "; ".join(seen) or "none prepared"


def _report(name: str, times: list[float], recall: float, build: float, size: int) -> None:
    print(
        f"  {name:<44} {percentile(times, 50):8.2f} {percentile(times, 95):8.2f} "
        f"{recall:9.3f} {build:9.1f} {size / 2**20:9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-users", type=int, default=3)
    parser.add_argument("--big-size", type=int, default=20_000)
    parser.add_argument("--small-users", type=int, default=200)
    parser.add_argument("--small-size", type=int, default=200)
    parser.add_argument("--queries", type=int, default=50, help="per big user")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ef-search", default="100,200", help="hnsw.ef_search values (the backend's is 100)"
    )
    args = parser.parse_args()
    efs = [int(value) for value in args.ef_search.split(",")]

    from multisession import MemoryEngine

    users = _users(args)
    total = sum(size for _, size in users)
    corpus = Corpus(total, args.seed)
    embedder = TableEmbedder(corpus.texts, corpus.vectors)
    settings = ["maintenance_work_mem=1GB", "shared_buffers=512MB"]
    with pgvector_server(settings) as server:
        url = create_database(server, "filtered")
        engine = MemoryEngine(sql_url=url, embedder=embedder, exact_vector_limit=0)
        _execute(engine, f"DROP INDEX {GLOBAL_INDEX}")  # bulk load first, build after
        loaded, rows = _load(engine, corpus, users)
        _execute(engine, "VACUUM ANALYZE ms_memories")
        print(
            f"{len(users)} users, {total} memories "
            f"({args.big_users} x {args.big_size} + {args.small_users} x {args.small_size}), "
            f"loaded through add_many in {loaded:.1f} s"
        )
        big = [user for user, _ in users[: args.big_users]]
        queries: dict[str, list[np.ndarray]] = {}
        truth: dict[str, list[set[str]]] = {}
        for user in big:
            own = corpus.vectors[rows[user]]
            rng = np.random.default_rng(hash(user) % 2**32)
            picked = own[rng.integers(0, len(own), args.queries)]
            noisy = picked + 0.05 * rng.standard_normal(picked.shape).astype(np.float32)
            queries[user] = list(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
            truth[user] = [_exact(engine, user, q, args.k) for q in queries[user]]

        print(
            f"\nbig users' queries, k={args.k}, {args.queries} per user x {args.rounds} rounds "
            f"(load average {os.getloadavg()[0]:.2f} at start):"
        )
        print(
            f"  {'index':<44} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9} "
            f"{'build s':>9} {'MiB':>9}"
        )
        results: dict[str, tuple[float, float]] = {}
        notes: list[str] = []

        def run(label: str, build: float, size: int) -> None:
            for custom, ef_search in [(False, 100)] + [(True, ef) for ef in efs]:
                plans = f"custom plans, ef {ef_search}" if custom else "plan cache auto"
                name = f"{label}, {plans}"
                times, recall, used = _measure(
                    engine, queries, truth, args.k, args.rounds, custom, ef_search
                )
                results[name] = (percentile(times, 50), recall)
                notes.append(f"  {name}: {used}")
                _report(name, times, recall, build, size)

        build = _execute(
            engine,
            f"CREATE INDEX {GLOBAL_INDEX} ON ms_memories "
            "USING hnsw (embedding_vector vector_cosine_ops)",
        )
        plans_global = _plans(engine, big[0], queries[big[0]][0])
        run("(a) global", build, _size(engine, [GLOBAL_INDEX]))
        _execute(engine, f"DROP INDEX {GLOBAL_INDEX}")

        names = [f"ix_ms_hnsw_{user.replace('-', '_')}" for user in big]
        build = sum(
            _execute(
                engine,
                f"CREATE INDEX {name} ON ms_memories "
                f"USING hnsw (embedding_vector vector_cosine_ops) WHERE user_id = '{user}'",
            )
            for name, user in zip(names, big, strict=True)
        )
        plans_partial = _plans(engine, big[0], queries[big[0]][0])
        run(f"(b) partial x{len(big)}", build, _size(engine, names))

        base = results["(a) global, plan cache auto"][0]
        print("\np50 against (a) global, plan cache auto (the backend before custom plans):")
        for name, (p50, recall) in results.items():
            print(f"  {name:<44} {base / p50:6.2f}x faster   recall {recall:.3f}")
        print("\nplanner, the query with user_id = $1 (EXPLAIN EXECUTE of a prepared one):")
        for label, plans in (("(a)", plans_global), ("(b)", plans_partial)):
            for mode, used in plans.items():
                print(f"  {label} {mode:<20} {used}")
        print("\nduring each run (pg_stat_user_indexes; pg_prepared_statements per connection):")
        print("\n".join(notes))
        engine.close()


if __name__ == "__main__":
    main()
