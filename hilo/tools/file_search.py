"""``file_search``: the Assistants API's built-in retrieval tool, run by hilo itself.

An assistant lists ``{"type": "file_search"}`` (optionally with ``file_search.max_num_results``
and ``file_search.ranking_options``) and names its vector stores in
``tool_resources.file_search.vector_store_ids``; a thread may add its own. The model sees a
function ``file_search(query)``; the engine runs it here against those stores (hybrid search,
:mod:`hilo.knowledge.search`), and records the call in the run step as OpenAI does:

    {"id": "call_…", "type": "file_search",
     "file_search": {"ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                     "results": [{"file_id", "file_name", "score", "content": [{"type": "text", "text"}]}]}}

(the passages' ``content`` is shown only with ``include[]=step_details.tool_calls[*].file_search.results[*].content``).

The model reads the passages with a citation marker each, ``【m:i†filename】`` (``m``: the model
round of the run, ``i``: the passage's rank); every marker it quotes becomes a ``file_citation``
annotation of the answer, with its place in the text and the cited file's id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hilo.kit.errors import HiloError, InvalidRequest
from hilo.knowledge.search import search_stores
from hilo.tools.context import ToolContext, ToolResult

NAME = "file_search"
RANKER = "default_2024_08_21"  # the name OpenAI reports for its default ranker
RANKERS = {"auto", RANKER}
DEFAULT_RESULTS = 10  # OpenAI uses 20 for large models; passages are long, and small models' windows are not
MAX_RESULTS = 50
NOTE = {
    "es": "Responde solo con estos pasajes. Después de cada dato que uses, escribe el marcador del pasaje "
          "del que sale (por ejemplo {m}). Si los pasajes no responden la pregunta, dilo.",
    "en": "Answer only from these passages. After each fact you use, write the marker of the passage it "
          "comes from (for example {m}). If the passages do not answer the question, say so.",
}


def marker(round_: int, index: int, filename: str) -> str:
    return f"【{round_}:{index}†{filename}】"


def options(definition: Mapping[str, Any]) -> tuple[int, float, str]:
    """(max_num_results, score_threshold, ranker) of a file_search tool definition, validated."""
    spec = definition.get("file_search") or {}
    if not isinstance(spec, Mapping):
        raise InvalidRequest("tools[].file_search must be an object.", param="tools")
    count = spec.get("max_num_results", DEFAULT_RESULTS)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_RESULTS:
        raise InvalidRequest(f"file_search.max_num_results must be an integer from 1 to {MAX_RESULTS}.",
                             param="tools")
    ranking = spec.get("ranking_options") or {}
    if not isinstance(ranking, Mapping):
        raise InvalidRequest("file_search.ranking_options must be an object.", param="tools")
    ranker = ranking.get("ranker", "auto")
    if ranker not in RANKERS:
        raise InvalidRequest(f"file_search.ranking_options.ranker must be one of {sorted(RANKERS)}.", param="tools")
    threshold = ranking.get("score_threshold", 0.0)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise InvalidRequest("file_search.ranking_options.score_threshold must be a number from 0 to 1.",
                             param="tools")
    return count, float(threshold), ranker


def store_ids(resources: Mapping[str, Any] | None) -> list[str]:
    ids = ((resources or {}).get(NAME) or {}).get("vector_store_ids") or []
    return [i for i in dict.fromkeys(ids) if isinstance(i, str)]


class FileSearchTool:
    """The server-side tool behind one ``file_search`` definition."""

    name = NAME
    step_type = NAME
    access = "public"  # it reads only the stores the assistant and the thread name, which their owner may read
    timeout = 30.0
    description = ("Search the assistant's knowledge base (its files) for passages that answer the user's "
                   "question. Use it for any question the knowledge base may answer.")
    parameters = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to look for, in the user's words."}},
        "required": ["query"],
    }

    def __init__(self, max_num_results: int = DEFAULT_RESULTS, score_threshold: float = 0.0, ranker: str = "auto"):
        self.max_num_results = max_num_results
        self.score_threshold = score_threshold
        self.ranker = ranker

    def ranking_options(self) -> dict[str, Any]:
        return {"ranker": RANKER, "score_threshold": self.score_threshold}

    async def invoke(self, arguments: str, context: ToolContext) -> ToolResult:
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            args = None
        query = args.get("query") if isinstance(args, dict) else None
        if isinstance(query, list):
            query = " ".join(str(q) for q in query)
        if not isinstance(query, str) or not query.strip():
            return self._failed("file_search needs a non-empty 'query' string.", "invalid_arguments")
        stores = store_ids(context.resources)
        details: dict[str, Any] = {"ranking_options": self.ranking_options(), "results": []}
        if not stores:
            return ToolResult(json.dumps({"query": query, "results": [],
                                          "note": "No knowledge base (vector store) is attached to this assistant or thread."},
                                         ensure_ascii=False), details=details)
        services = context.services
        if services.db is None or services.settings is None:
            raise LookupError("file_search needs the database")
        try:
            passages = await search_stores(services.db, services.settings, stores, query,
                                           max_num_results=self.max_num_results,
                                           score_threshold=self.score_threshold, ranker=self.ranker)
        except HiloError as exc:  # an expired or deleted store: the model is told, the run goes on
            return self._failed(exc.message, "unavailable")
        results, annotations, shown = [], [], []
        for i, p in enumerate(passages):
            mark = marker(context.round, i, p.filename)
            results.append({"file_id": p.file_id, "file_name": p.filename, "score": round(p.score, 6),
                            "content": [{"type": "text", "text": p.text}]})
            annotations.append({"type": "file_citation", "text": mark, "file_citation": {"file_id": p.file_id}})
            shown.append({"marker": mark, "filename": p.filename, "score": round(p.score, 4), "text": p.text})
        details["results"] = results
        note = NOTE["en"].format(m=shown[0]["marker"] if shown else marker(context.round, 0, "file"))
        output = json.dumps({"query": query, "results": shown, "note": note}, ensure_ascii=False)
        return ToolResult(output, annotations=tuple(annotations), details=details)

    def _failed(self, message: str, kind: str) -> ToolResult:
        return ToolResult(json.dumps({"error": message, "error_type": kind}, ensure_ascii=False),
                          details={"ranking_options": self.ranking_options(), "results": []})


class FileSearchKind:
    """The ``file_search`` tool type: validated at create time, run by :class:`FileSearchTool`."""

    type = NAME

    def check(self, definition: Mapping[str, Any], registry: Any) -> None:
        options(definition)

    def server_tool(self, definition: Mapping[str, Any]) -> FileSearchTool:
        count, threshold, ranker = options(definition)
        return FileSearchTool(count, threshold, ranker)


def strip_content(step_details: Mapping[str, Any], keep: bool) -> dict[str, Any]:
    """A step's details as the API shows them: file_search calls in OpenAI's shape, their
    passages' ``content`` only when asked for (``keep``)."""
    if step_details.get("type") != "tool_calls":
        return dict(step_details)
    calls = []
    for call in step_details.get("tool_calls") or ():
        if call.get("type") != NAME:
            calls.append(call)
            continue
        found = call.get(NAME) or {"ranking_options": {"ranker": RANKER, "score_threshold": 0.0}, "results": []}
        results = [r if keep else {k: v for k, v in r.items() if k != "content"} for r in found.get("results") or ()]
        calls.append({"id": call["id"], "type": NAME, NAME: {**found, "results": results}})
    return {**step_details, "tool_calls": calls}


__all__ = ["DEFAULT_RESULTS", "NAME", "FileSearchKind", "FileSearchTool", "marker", "options", "store_ids",
           "strip_content"]
