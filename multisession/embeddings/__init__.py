"""Text to vectors: the embedder protocol and the offline all-MiniLM-L6-v2 default."""
