"""Which provider answers a given assistant ``model`` string.

* ``scripted/<script>`` -> the scripted test double;
* ``guided`` or ``guided/<anything>`` -> the guided provider (no model: tools, examples, templates);
* ``local`` or ``local/<anything>`` -> the in-process GGUF model;
* ``<name>/<model>`` where ``<name>`` is a key of ``HILO_PROVIDERS`` -> that endpoint;
* ``openai/<model>`` -> the default OpenAI-compatible endpoint with exactly that model;
* anything else -> the default provider (``HILO_LLM_PROVIDER``; ``auto`` means the
  OpenAI-compatible endpoint when ``HILO_LLM_BASE_URL`` or ``HILO_LLM_API_KEY`` is set,
  else the guided provider). When ``HILO_LLM_MODEL`` is set it replaces such unprefixed
  names, so seed code that hard-codes ``gpt-4o`` runs on whatever the operator chose.
"""

from __future__ import annotations

from hilo.kit.config import Settings
from hilo.providers.base import ModelProvider, ProviderError
from hilo.providers.guided import GuidedProvider
from hilo.providers.scripted import ScriptedProvider
from hilo.tools import ToolRegistry


class Providers:
    def __init__(self, settings: Settings, tools: ToolRegistry | None = None):
        self.settings = settings
        self._cache: dict[str, ModelProvider] = {}
        self.scripted = ScriptedProvider(settings.scripted_file)
        self.guided = GuidedProvider(tools, threshold=settings.guided_threshold,
                                     threads=settings.embedding_threads, cache_dir=settings.data_dir / "guided")
        self.default_kind = self._default_kind()

    def _default_kind(self) -> str:
        kind = self.settings.llm_provider
        if kind == "auto":
            s = self.settings
            return "openai" if (s.llm_base_url or s.llm_api_key) else "guided"
        if kind not in ("openai", "guided", "local", "scripted"):
            raise ValueError(f"HILO_LLM_PROVIDER must be auto, openai, guided, local or scripted, not {kind!r}")
        return kind

    def _openai(self, name: str) -> ModelProvider:
        if name not in self._cache:
            from hilo.providers.openai_provider import OpenAIProvider

            s = self.settings
            if name == "openai":
                conf = {"base_url": s.llm_base_url, "api_key": s.llm_api_key, "vision": s.llm_vision,
                        "context_tokens": s.llm_context_tokens}
            else:
                conf = s.providers[name]
            self._cache[name] = OpenAIProvider(
                name=name,
                base_url=conf.get("base_url"),
                api_key=conf.get("api_key"),
                default_model=conf.get("model") or (s.llm_model if name == "openai" else None),
                timeout=float(conf.get("timeout", s.llm_timeout)),
                max_retries=int(conf.get("max_retries", s.llm_max_retries)),
                supports_images=bool(conf.get("vision", True)),
                context_tokens=int(conf.get("context_tokens", s.llm_context_tokens)),
            )
        return self._cache[name]

    def _local(self) -> ModelProvider:
        if "local" not in self._cache:
            try:
                from hilo.providers.local import LocalProvider
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ProviderError(f"the local model is unavailable: {exc}") from exc
            s = self.settings
            self._cache["local"] = LocalProvider(
                model_path=s.local_model_path, context_tokens=s.local_context_tokens,
                threads=s.local_threads,
            )
        return self._cache["local"]

    def _by_kind(self, kind: str) -> ModelProvider:
        if kind == "scripted":
            return self.scripted
        if kind == "guided":
            return self.guided
        if kind == "local":
            return self._local()
        return self._openai("openai")

    def resolve(self, model: str) -> tuple[ModelProvider, str]:
        """The provider for an assistant's ``model`` and the model name to send it."""
        prefix, _, rest = model.partition("/")
        if prefix == "scripted" and rest:
            return self.scripted, model
        if prefix == "guided":
            return self.guided, rest
        if prefix == "local":
            return self._local(), rest
        if rest and prefix in self.settings.providers:
            return self._openai(prefix), rest
        if prefix == "openai" and rest:
            return self._openai("openai"), rest
        provider = self._by_kind(self.default_kind)
        if self.default_kind == "openai" and self.settings.llm_model:
            return provider, self.settings.llm_model
        if self.default_kind == "scripted":
            return provider, model if model.startswith("scripted/") else f"scripted/{model}"
        return provider, model

    def default(self) -> ModelProvider:
        return self._by_kind(self.default_kind)

    def named(self, name: str) -> ModelProvider:
        """One of HILO_PROVIDERS' endpoints by its name."""
        return self._openai(name)

    async def aclose(self) -> None:
        for provider in self._cache.values():
            await provider.aclose()
        self._cache.clear()
