"""The Spark side (jobs env): one job module per stage (``spark_jobs/*.py`` are their spark-submit entry points),
ingest, dedup, write-audit-publish and the quality gate, the session and the run audit; and the one module
that starts no Spark, ``empty_day`` (a stage of a day with nothing to process, settled with pyiceberg)."""
