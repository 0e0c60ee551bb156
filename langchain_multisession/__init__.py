"""LangChain adapters for multisession."""
