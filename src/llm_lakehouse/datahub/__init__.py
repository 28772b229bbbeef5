"""Lineage in DataHub: tables, columns, the DAG and its tasks, runs, PII tags and quality results.

- ``model``: the lineage as plain data, derived from the spec and ``tables.py`` (``LINEAGE``); no DataHub.
- ``mcps``: DataHub MCPs built from it (URNs identical to the acryl Airflow plugin's).
- ``config`` / ``store``: the sink (file, DataHub Lite, REST) and the local journal that is replayed.
- ``graph`` / ``cli``: ``lakehouse lineage`` walks the local store and prints trees; ``publish`` replays.
- ``hook``: ``emit_job_lineage`` (called by every Spark job, with the run's quality results).

Heavy imports (the DataHub SDK) happen inside the functions, so importing this package is cheap.
"""

from __future__ import annotations

import os

# The DataHub SDK sends usage telemetry (Mixpanel) unless told not to; a pipeline should not, and these
# machines are offline anyway. Set before any `datahub` import; an explicit setting wins.
os.environ.setdefault("DATAHUB_TELEMETRY_ENABLED", "false")

from llm_lakehouse.datahub.hook import emit_job_lineage  # noqa: E402

__all__ = ["emit_job_lineage"]
