"""Where data lives: the SQL schema and store, conversations, the vector index, write-behind.

SQL is the source of truth; everything else in the package is derived from it.
"""
