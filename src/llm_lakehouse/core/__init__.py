"""What every runtime shares: the spec, the tables, the stages, the settings, the errors, and the pipes and PII
scrubbers the spec composes. Pure Python, pyarrow and pyiceberg: nothing here imports Spark, Airflow or the
DataHub SDK (import-linter enforces it), so the Airflow env, Spark drivers and Spark's Python workers all load it.
"""
