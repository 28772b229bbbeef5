"""Serves the corpus reports under /lakehouse-reports on the API server (the tasks' "Corpus report" link)."""

from airflow.plugins_manager import AirflowPlugin

from llm_lakehouse.airflow.reports import URL_PREFIX, reports_app
from llm_lakehouse.core.settings import Settings


class LakehouseReportsPlugin(AirflowPlugin):
    name = "lakehouse_reports"
    fastapi_apps = [
        {
            "app": reports_app(Settings.from_env().home / "reports"),
            "url_prefix": URL_PREFIX,
            "name": "Corpus reports",
        }
    ]
