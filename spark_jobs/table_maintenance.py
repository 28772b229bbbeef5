"""spark-submit entry point: Iceberg table maintenance on every lakehouse table (see llm_lakehouse.spark.maintenance)."""

from llm_lakehouse.spark.maintenance import main

if __name__ == "__main__":
    main()
