"""``lakehouse``: the command line (jobs env). It submits the Spark jobs and reads the tables with pyiceberg."""

from llm_lakehouse.cli.app import app

__all__ = ["app"]
