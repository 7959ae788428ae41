"""hilo: a self-hosted assistant server speaking the OpenAI Assistants API v2."""

__version__ = "0.1.0"
