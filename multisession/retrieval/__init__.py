"""How a search is answered: per-user candidates from BM25 and vectors, fused and ranked.

The ranking math (fusion, temporal decay) is pure functions over plain data; the
classes here only gather candidates and keep the per-user indexes in step with SQL.
"""
