"""How a search is answered and how writes reach what it reads.

``hybrid`` gathers one user's keyword and vector candidates and ``ranking`` ranks them
(fusion and temporal decay are pure functions over plain data); ``user_indexes`` keeps
each user's in-process indexes in step with SQL; ``indexing`` writes memories to SQL
first and then to those indexes and, through write-behind, to the vector index.
"""
