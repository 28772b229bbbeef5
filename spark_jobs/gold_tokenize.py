"""spark-submit entry point: the gold layer for one logical date (see llm_lakehouse.spark.gold)."""

from llm_lakehouse.spark.gold import main

if __name__ == "__main__":
    main()
