"""spark-submit entry point: Iceberg table maintenance on every lakehouse table (see llm_lakehouse.jobs.maintenance)."""

from llm_lakehouse.jobs.maintenance import main

if __name__ == "__main__":
    main()
