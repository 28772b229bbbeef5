"""spark-submit entry point: the bronze layer for one logical date (see llm_lakehouse.jobs.bronze)."""

from llm_lakehouse.jobs.bronze import main

if __name__ == "__main__":
    main()
