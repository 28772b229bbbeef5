"""spark-submit entry point: the gold layer for one logical date (see llm_lakehouse.jobs.gold)."""

from llm_lakehouse.jobs.gold import main

if __name__ == "__main__":
    main()
