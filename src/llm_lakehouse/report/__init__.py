"""The corpus report: one day of the lakehouse as an offline HTML page with plots (``corpus.py``)."""

from llm_lakehouse.report.corpus import report_dir, write_report

__all__ = ["report_dir", "write_report"]
