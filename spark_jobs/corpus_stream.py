"""spark-submit entry point: the streaming path (see llm_lakehouse.spark.stream)."""

from llm_lakehouse.spark.stream import main

if __name__ == "__main__":
    main()
