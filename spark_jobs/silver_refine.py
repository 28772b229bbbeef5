"""spark-submit entry point: the silver layer for one logical date (see llm_lakehouse.jobs.silver)."""

from llm_lakehouse.jobs.silver import main

if __name__ == "__main__":
    main()
