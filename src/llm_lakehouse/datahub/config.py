"""Where lineage goes: the sink chosen in ``Settings`` (``LAKEHOUSE_DATAHUB_*``) and the local store's files.

``settings.py`` reads the deployment's choice: ``LAKEHOUSE_DATAHUB_SINK`` = ``lite`` (default: DataHub Lite),
``file`` (a JSON file of MCPs) or ``rest`` (a GMS at ``DATAHUB_GMS_URL`` with ``DATAHUB_GMS_TOKEN``), and
``LAKEHOUSE_DATAHUB_ENV`` (fabric of dataset URNs, default ``PROD``; its lower case is the DataFlow/DataJob
``cluster``, as the Airflow plugin derives one from the other). Two more knobs live here:
``LAKEHOUSE_DATAHUB_TIMEOUT`` (seconds per GMS request, default 3, no retries, so an outage costs seconds)
and ``LAKEHOUSE_DATAHUB_CONN_ID`` (an Airflow connection, ``AIRFLOW_CONN_<ID>``, consulted for the GMS
URL and token when the variables are not set).

Whatever the sink, every event is first appended to the journal ``$LAKEHOUSE_HOME/datahub/journal.jsonl``
(the local store that ``lakehouse lineage`` reads and ``lakehouse lineage publish`` replays); events a GMS
did not take are also listed in ``pending.jsonl``. Everything lives under ``LAKEHOUSE_HOME``, never the
user's home: DataHub Lite's CLI is pointed there with ``HOME=$LAKEHOUSE_HOME/datahub``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from llm_lakehouse.core.settings import Settings

SINKS = ("file", "lite", "rest")
DEFAULT_SINK = "lite"


def _airflow_conn(conn_id: str, env: dict[str, str]) -> tuple[str | None, str | None]:
    """(url, token) of an Airflow connection given as ``AIRFLOW_CONN_<ID>`` (JSON or URI form)."""
    raw = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None, None
    if raw.lstrip().startswith("{"):
        conn = json.loads(raw)
        host, port = conn.get("host"), conn.get("port")
        url = f"{host}:{port}" if host and port else host
        return url, conn.get("password")
    parts = urlsplit(raw)
    # datahub-rest://:token@gms:8080?__extra__... -> http://gms:8080 (the plugin's host carries the scheme)
    scheme = "https" if parts.scheme.endswith("https") else "http"
    host = parts.hostname or ""
    url = f"{scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}" if host else None
    return url, unquote(parts.password) if parts.password else None


@dataclass(frozen=True)
class LineageConfig:
    sink: str
    root: Path  # $LAKEHOUSE_HOME/datahub
    catalog: str
    cluster: str  # the Airflow plugin's `cluster`: DataFlow/DataJob URNs; upper-cased, the dataset fabric
    gms_url: str | None = None
    token: str | None = field(default=None, repr=False)
    timeout_s: float = 3.0

    @classmethod
    def from_env(cls, settings: Settings, env: dict[str, str] | None = None) -> LineageConfig:
        env = dict(os.environ if env is None else env)
        sink = (env.get("LAKEHOUSE_DATAHUB_SINK") or DEFAULT_SINK).lower()
        if sink not in SINKS:
            raise ValueError(f"LAKEHOUSE_DATAHUB_SINK: expected one of {', '.join(SINKS)}, got {sink!r}")
        url, token = env.get("DATAHUB_GMS_URL"), env.get("DATAHUB_GMS_TOKEN")
        if not url:  # sink=rest without DATAHUB_GMS_URL: the Airflow connection's URL and password
            url, conn_token = _airflow_conn(env.get("LAKEHOUSE_DATAHUB_CONN_ID", "datahub_rest_default"), env)
            token = token or conn_token
        return cls(
            sink=sink,
            root=settings.home / "datahub",
            catalog=settings.catalog.name,
            cluster=(env.get("LAKEHOUSE_DATAHUB_ENV") or "PROD").lower(),
            gms_url=url,
            token=token or None,
            timeout_s=float(env.get("LAKEHOUSE_DATAHUB_TIMEOUT", "3")),
        )

    @property
    def env(self) -> str:
        """Fabric of dataset URNs: the plugin maps Airflow assets with ``env=cluster``, upper-cased."""
        return self.cluster.upper()

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def pending(self) -> Path:
        return self.root / "pending.jsonl"

    @property
    def file_path(self) -> Path:
        """The ``file`` sink: a JSON array of MCPs, readable by ``datahub ingest`` (source ``file``)."""
        return self.root / "mcps.json"

    @property
    def lite_path(self) -> Path:
        return self.root / "lite" / "datahub.db"

    @property
    def airflow_file(self) -> Path:
        """Where the Airflow plugin's ``datahub-file`` connection writes (read by ``lakehouse lineage``)."""
        return self.root / "airflow_mcps.json"

    @property
    def airflow_journal(self) -> Path:
        """The plugin's events moved out of ``airflow_file`` by each job (one MCP per line, append-only)."""
        return self.root / "airflow_journal.jsonl"

    @property
    def lite_home(self) -> Path:
        """``HOME`` for the ``datahub lite`` CLI: holds a ``.datahubenv`` pointing at ``lite_path``."""
        return self.root
