"""Configuration of the acryl DataHub Airflow plugin, as environment variables, from the lakehouse's settings.

The plugin (``acryl-datahub-airflow-plugin`` + ``acryl-datahub[sync-file-emitter]``, without which it only logs
"emitter not available") records the DAG, its tasks and every task run. Default: a ``datahub-file``
connection writing ``$LAKEHOUSE_HOME/datahub/airflow_mcps.json`` (no network, so no GMS timeout can slow a
task; ``lakehouse lineage`` reads that file too). With ``LAKEHOUSE_DATAHUB_SINK=rest`` it uses a
``datahub-rest`` connection with a short timeout and no retries: the SDK's default retries are what make an
unreachable GMS cost ~20 s per task. Its ``cluster`` is ours, so its URNs equal those the jobs emit.

    eval "$(python -m llm_lakehouse.datahub.airflow_env)"     # scripts/run.sh
    os.environ.update(plugin_env(Settings.from_env()))          # tests/airflow/conftest.py

No DataHub import here: this runs before Airflow starts.
"""

from __future__ import annotations

import json
import os
import shlex

from llm_lakehouse.core.settings import Settings
from llm_lakehouse.datahub.config import LineageConfig

FILE_CONN = "datahub_file_default"
REST_CONN = "datahub_rest_default"


def plugin_env(settings: Settings, env: dict[str, str] | None = None) -> dict[str, str]:
    """``AIRFLOW__DATAHUB__*`` and the connection the plugin emits through; existing values win."""
    env = dict(os.environ if env is None else env)
    cfg = LineageConfig.from_env(settings, env)
    out = {
        "AIRFLOW__DATAHUB__ENABLED": "True",
        "AIRFLOW__DATAHUB__CLUSTER": cfg.cluster,
        "AIRFLOW__DATAHUB__CAPTURE_EXECUTIONS": "True",
        "DATAHUB_TELEMETRY_ENABLED": "false",
    }
    if cfg.sink == "rest" and cfg.gms_url:
        out["AIRFLOW__DATAHUB__CONN_ID"] = REST_CONN
        conn = {
            "conn_type": "datahub-rest",
            "host": cfg.gms_url,
            "extra": {"timeout_sec": cfg.timeout_s, "retry_max_times": 0},
        }
        if cfg.token:
            conn["password"] = cfg.token
        out[f"AIRFLOW_CONN_{REST_CONN.upper()}"] = json.dumps(conn)
    else:
        cfg.root.mkdir(parents=True, exist_ok=True)
        out["AIRFLOW__DATAHUB__CONN_ID"] = FILE_CONN
        out[f"AIRFLOW_CONN_{FILE_CONN.upper()}"] = json.dumps(
            {"conn_type": "datahub-file", "host": str(cfg.airflow_file)}
        )
    return {k: v for k, v in out.items() if k not in env}


def main() -> None:
    for key, value in plugin_env(Settings.from_env()).items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
