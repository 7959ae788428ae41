"""Request bodies of /v1/vector_stores, validated as OpenAI documents them.

The chunking strategy's ranges (``max_chunk_size_tokens`` 100..4096, overlap at most half of
it) are checked again by :func:`hilo.knowledge.chunking.strategy`, the one rule the API and the
CLI share; attribute filters are checked by :func:`hilo.knowledge.search.check_filters` (clear
messages naming ``filters``, a bounded depth). File attributes follow OpenAI: at most 16 keys of
at most 64 characters; values strings of at most 512 characters, numbers or booleans.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from hilo.kit.schemas import Strict, WithMetadata

MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_TEXT = 512
MAX_FILES_CREATE = 500  # file_ids of vector_stores.create (OpenAI's limit)
MAX_FILES_BATCH = 2000  # file_ids / files of file_batches.create (OpenAI's limit)
MAX_QUERIES = 10  # queries of one search (a list of strings)
MAX_QUERY_CHARS = 4096

AttributeValue = str | int | float | bool
Attributes = dict[str, AttributeValue]


def check_attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"attributes can have at most {MAX_ATTRIBUTES} key-value pairs")
    for key, item in value.items():
        if not key:
            raise ValueError("attribute keys must not be empty")
        if len(key) > MAX_ATTRIBUTE_KEY:
            raise ValueError(f"attribute key '{key[:20]}...' is longer than {MAX_ATTRIBUTE_KEY} characters")
        if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT:
            raise ValueError(f"attribute value for '{key}' is longer than {MAX_ATTRIBUTE_TEXT} characters")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"attribute value for '{key}' must be a finite number")
    return value


class StaticChunking(Strict):
    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0, le=2048)


class AutoChunkingStrategy(Strict):
    type: Literal["auto"]


class StaticChunkingStrategy(Strict):
    type: Literal["static"]
    static: StaticChunking


ChunkingStrategy = Annotated[AutoChunkingStrategy | StaticChunkingStrategy, Field(discriminator="type")]


class ExpiresAfter(Strict):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class WithAttributes(Strict):
    attributes: Attributes | None = None

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v):
        return check_attributes(v)


class VectorStoreCreate(WithMetadata):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    file_ids: list[str] | None = Field(default=None, max_length=MAX_FILES_CREATE)
    chunking_strategy: ChunkingStrategy | None = None
    expires_after: ExpiresAfter | None = None


class VectorStoreUpdate(WithMetadata):
    name: str | None = Field(default=None, max_length=256)
    expires_after: ExpiresAfter | None = None


class RankingOptions(Strict):
    ranker: Literal["auto", "default-2024-11-15", "none"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]


class VectorStoreSearch(Strict):
    query: Query | Annotated[list[Query], Field(min_length=1, max_length=MAX_QUERIES)]
    filters: dict[str, Any] | None = None
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False


class VectorStoreFileCreate(WithAttributes):
    file_id: str = Field(min_length=1)
    chunking_strategy: ChunkingStrategy | None = None


class VectorStoreFileUpdate(Strict):
    attributes: Attributes | None

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v):
        return check_attributes(v)


class BatchFile(WithAttributes):
    file_id: str = Field(min_length=1)
    chunking_strategy: ChunkingStrategy | None = None


class FileBatchCreate(WithAttributes):
    file_ids: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, max_length=MAX_FILES_BATCH)
    files: list[BatchFile] | None = Field(default=None, max_length=MAX_FILES_BATCH)
    chunking_strategy: ChunkingStrategy | None = None  # with files: ignored, as OpenAI does (set it per file)

    @model_validator(mode="after")
    def _one_list(self):
        if self.file_ids is not None and self.files is not None:
            raise ValueError("file_ids and files are mutually exclusive: give one of them")
        if not (self.file_ids or self.files):
            raise ValueError("a batch needs file_ids or files (a non-empty list)")
        return self


def dump_strategy(value: Any) -> dict[str, Any] | None:
    """A validated strategy model as the plain dict :func:`chunking.strategy` reads (None stays None)."""
    return None if value is None else value.model_dump()


__all__ = ["MAX_ATTRIBUTES", "MAX_FILES_BATCH", "MAX_FILES_CREATE", "MAX_QUERIES", "Attributes", "BatchFile",
           "ChunkingStrategy", "ExpiresAfter", "FileBatchCreate", "RankingOptions", "VectorStoreCreate",
           "VectorStoreFileCreate", "VectorStoreFileUpdate", "VectorStoreSearch", "VectorStoreUpdate",
           "check_attributes", "dump_strategy"]
