"""LLM Lakehouse: declared pipelines that turn raw text into versioned Iceberg corpora for LLMs."""

__version__ = "0.1.0"
