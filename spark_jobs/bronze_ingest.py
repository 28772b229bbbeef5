"""spark-submit entry point: the bronze layer for one logical date (see llm_lakehouse.spark.bronze)."""

from llm_lakehouse.spark.bronze import main

if __name__ == "__main__":
    main()
