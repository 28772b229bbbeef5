"""Spark jobs, one module per layer; ``spark_jobs/*.py`` are their spark-submit entry points."""
