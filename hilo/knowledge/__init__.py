"""Knowledge: vector stores and file search over the files users upload.

- ``parsing``: a file's bytes to plain text (txt, md, html, csv, json, pdf, docx, pptx);
- ``chunking``: text to overlapping pieces counted in the bundled embedder's tokens, and the
  ``chunking_strategy`` OpenAI documents;
- ``lexical``: Spanish-aware terms (accents folded, stopwords out, Snowball stems);
- ``index``: one vector store's in-memory hybrid index (dense + BM25, reciprocal rank fusion);
- ``embeddings``: passages and queries to vectors (bundled e5, or an OpenAI-compatible endpoint);
- ``models``: the tables (vector stores, their files and batches, chunks with their vectors);
- ``service``: vector stores, files and batches, their statuses and counts;
- ``ingest``: the background work that parses, chunks, embeds and indexes a file;
- ``search``: search over one or more stores, for the API and the ``file_search`` tool;
- ``objects``: the OpenAI objects the API answers.
"""
