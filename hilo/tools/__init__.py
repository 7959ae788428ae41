"""Tools a run can use: their kinds, their typed context, and who may use them.

* **Kinds** (:mod:`hilo.tools.kinds`): each ``type`` of the Assistants API's ``tools`` is a
  registered kind that validates a definition at create time and says what the model sees.
  ``function`` is built in; ``file_search`` and ``code_interpreter`` are refused with a 400 until
  a kind that runs them is registered.
* **Server-side tools** (:class:`ServerTool`, usually a typed function made with
  :func:`hilo.tools.function.tool`): an assistant enables one by listing a function tool with
  just its name (``{"type": "function", "function": {"name": "get_crypto_price"}}``); hilo fills
  in the description and schema at run time and executes the call itself. A function tool that
  carries its own ``parameters`` stays client-side (``requires_action``), whatever its name.
* **Permissions** (:mod:`hilo.tools.permissions`): a restricted tool runs only for assistants
  allowed to use it; others get a 400 when they are created or run.
* **Context** (:class:`ToolContext`): who is calling, for which assistant, in which run.
"""

from hilo.tools.context import AssistantInfo, ToolContext, ToolResult, ToolServices
from hilo.tools.registry import ServerTool, ToolRegistry

__all__ = ["AssistantInfo", "ServerTool", "ToolContext", "ToolRegistry", "ToolResult", "ToolServices"]
