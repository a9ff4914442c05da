"""Retrieval over earlier phases: chunking, the pgvector index, retrieval."""
