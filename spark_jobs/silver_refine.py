"""spark-submit entry point: the silver layer for one logical date (see llm_lakehouse.spark.silver)."""

from llm_lakehouse.spark.silver import main

if __name__ == "__main__":
    main()
