"""LlamaIndex adapters for multisession."""
