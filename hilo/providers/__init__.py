"""Model providers: OpenAI-compatible HTTP, local GGUF, scripted test double."""
