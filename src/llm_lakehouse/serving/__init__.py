"""The RAG serving side (jobs env, no Spark): the LanceDB index kept in sync from ``gold.chunk_embeddings``
(``index``) and the query pipeline declared in ``pipelines/rag_query.yaml`` (``query``)."""
