"""The guided provider's example sentences of the installed packs, and the file that ships their vectors.

``python -m hilo.testing.examples`` (re)writes :data:`hilo.nlu.embed.SHIPPED` after a pack's or a
tool's examples change; ``tests/test_shipped_examples.py`` fails until it is run.
"""

from __future__ import annotations

from hilo.nlu import embed
from hilo.packs import loader
from hilo.providers.guided import GuidedProvider
from hilo.tools import ToolRegistry


def example_texts() -> list[str]:
    """What :meth:`GuidedProvider.warm` embeds with every installed pack enabled."""
    packs = loader.select(loader.discover(), "all")
    tools = ToolRegistry()
    loader.register_tools(packs, tools)
    guided = GuidedProvider(tools)
    for pack in packs:
        for spec in pack.assistant_specs():
            guided.add_profile(spec)
    return list(dict.fromkeys(guided.example_texts()))


if __name__ == "__main__":
    count = embed.write_shipped(example_texts())
    print(f"wrote {count} example vectors to {embed.SHIPPED}")
