"""spark-submit entry point: several stages of one day in one Spark application (see llm_lakehouse.spark.day)."""

from llm_lakehouse.spark.day import main

if __name__ == "__main__":
    main()
