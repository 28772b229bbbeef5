"""Per-domain access in Airflow, enforced: the FAB auth manager (what compose and the chart run) on a metadata DB
of its own, the roles `lakehouse governance roles` names, the repository's DAGs parsed. A domain's user is
authorized for exactly the DAGs of the specs whose domain is theirs; the labels come from the specs' files,
not from the DAGs' own access_control."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import LAKEHOUSE_CLI

from llm_lakehouse.core.governance import pipeline_spec_files
from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.core.spec import load_spec

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
PROBE = """
import json, sys
from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
from airflow.providers.fab.www.security_appless import ApplessAirflowSecurityManager
from airflow.utils.session import create_session
with create_session() as session:
    users, manager = ApplessAirflowSecurityManager(session=session), FabAuthManager()
    print(json.dumps({
        name: {m: sorted(manager.get_authorized_dag_ids(user=users.find_user(username=name), method=m, session=session))
               for m in ("GET", "PUT")}
        for name in sys.argv[1:]
    }))
"""


def test_a_domains_users_see_and_trigger_only_their_domains_dags(tmp_path: Path):
    home = tmp_path / "airflow"
    env = os.environ | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": FAB,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }

    def airflow(*args: str) -> str:
        proc = subprocess.run(["airflow", *args], capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    roles = subprocess.run([LAKEHOUSE_CLI, "governance", "roles"], capture_output=True, text=True, check=True)
    airflow("db", "migrate")
    airflow("roles", "create", *roles.stdout.split())
    airflow("dags", "reserialize")  # parses the DAGs: FAB syncs each one's access_control to its role
    specs = [load_spec(f) for f in pipeline_spec_files(REPO_ROOT / "pipelines")]
    domains = sorted(s.domain for s in specs if s.domain)
    for domain in domains:
        airflow("users", "create", "-u", domain, "-r", f"{domain}_domain", "-e", f"{domain}@example.com",
                "-f", domain, "-l", "user", "-p", "not-a-secret")  # fmt: skip
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *domains], capture_output=True, text=True, env=env, check=False
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    for domain in domains:
        own = sorted(s.name for s in specs if s.domain == domain)
        assert seen[domain] == {"GET": own, "PUT": own}, (domain, seen[domain])
    assert domains == ["docs", "support"]
