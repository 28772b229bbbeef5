"""The REST client's backfill creation against Airflow's answers on SQLite (scripted: the lock race that
leaves an orphan backfill cannot be produced on demand by a real standalone)."""

from __future__ import annotations

import io
import urllib.error
from datetime import date, timedelta
from typing import Any

import pytest

from llm_lakehouse.devtools import standalone
from llm_lakehouse.devtools.standalone import AirflowClient, ApiError, interval

FIRST, LAST = date(2026, 10, 1), date(2026, 10, 2)
RANGE = {"from_date": interval(FIRST)["logical_date"], "to_date": interval(LAST)["logical_date"]}


def http_error(code: int, detail: str) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://x", code, detail, {}, io.BytesIO(detail.encode()))  # type: ignore[arg-type]


class Scripted:
    """Airflow's backfill endpoints: ``backfills`` is what GET lists, ``posts`` the answers to POST in turn."""

    def __init__(self, posts: list[Any], backfills: list[list[dict]], runs: list[dict]) -> None:
        self.posts, self.backfills, self.runs, self.calls = posts, backfills, runs, []

    def __call__(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        self.calls.append((method, path.split("?")[0]))
        if method == "POST":
            answer = self.posts.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if path.startswith("/api/v2/backfills"):
            return {"backfills": self.backfills.pop(0) if len(self.backfills) > 1 else self.backfills[0]}
        return {"dag_runs": self.runs}


@pytest.fixture
def af(monkeypatch) -> AirflowClient:
    monkeypatch.setattr(standalone.time, "sleep", lambda s: None)
    return AirflowClient("http://localhost:1", "pw")


def test_an_orphan_left_by_a_503_is_waited_out_then_the_backfill_is_created(af, monkeypatch):
    orphan = {"id": 1, **RANGE, "completed_at": None}
    created = {"id": 2, **RANGE, "completed_at": None}
    script = Scripted(
        posts=[http_error(503, "Database is locked"), http_error(409, "already a running backfill"), created],
        # listed by the 409 check, twice while waiting, then the scheduler completed it
        backfills=[[orphan], [orphan], [orphan], [{**orphan, "completed_at": "2026-12-03T00:00:00Z"}]],
        runs=[],  # the orphan has no runs
    )
    monkeypatch.setattr(af, "_request", script)
    assert af.backfill(FIRST, LAST) == created
    assert [c for c in script.calls if c[0] == "POST"] == [("POST", "/api/v2/backfills")] * 3


def test_a_backfill_an_earlier_attempt_created_is_returned_not_created_again(af, monkeypatch):
    mine = {"id": 7, **RANGE, "completed_at": None}
    runs = [{"run_type": "backfill", "logical_date": interval(d)["logical_date"]} for d in (FIRST, LAST)]
    script = Scripted(posts=[http_error(409, "already a running backfill")], backfills=[[mine]], runs=runs)
    monkeypatch.setattr(af, "_request", script)
    assert af.backfill(FIRST, LAST) == mine
    assert sum(1 for c in script.calls if c[0] == "POST") == 1


def test_other_errors_and_a_conflict_that_outlasts_the_timeout_are_raised(af, monkeypatch):
    monkeypatch.setattr(af, "_request", Scripted([http_error(400, "bad range")], [[]], []))
    with pytest.raises(ApiError) as err:
        af.backfill(FIRST, LAST)
    assert err.value.status == 400
    other = {
        "id": 3,
        "from_date": "2026-09-01T02:00:00Z",
        "to_date": "2026-09-02T02:00:00Z",
        "completed_at": None,
    }
    monkeypatch.setattr(af, "_request", Scripted([http_error(409, "running")] * 50, [[other]], []))
    with pytest.raises((ApiError, TimeoutError)):
        af.backfill(FIRST, LAST, timeout=0.5)


def test_the_bearer_token_never_shows_in_repr(af):
    af._token = "secret-jwt-value"
    assert "secret-jwt-value" not in repr(af) and af.token() == "secret-jwt-value"


def test_list_calls_page_past_airflows_default_page_size(af, monkeypatch):
    """120 runs in a range: Airflow answers 50 per call unless asked for more; every page is read."""
    runs = [{"dag_run_id": f"backfill__{i}"} for i in range(120)]
    asked: list[str] = []

    def api(method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        asked.append(path)
        query = dict(part.split("=") for part in path.split("?", 1)[1].split("&"))
        offset, limit = int(query["offset"]), int(query["limit"])
        return {"dag_runs": runs[offset : offset + limit], "total_entries": len(runs)}

    monkeypatch.setattr(af, "_request", api)
    assert af.runs_for(FIRST, FIRST + timedelta(days=119)) == runs
    assert [p.rsplit("offset=", 1)[1] for p in asked] == ["0", "100"]


def test_trigger_posts_a_run_with_the_days_interval_and_clears_an_existing_one(af, monkeypatch):
    calls: list[tuple[str, str, Any]] = []
    existing: list[dict] = []

    def api(method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        calls.append((method, path, body))
        if method == "GET":
            return {"dag_runs": existing}
        return {"dag_run_id": body["dag_run_id"]} if body and "dag_run_id" in body else {}

    monkeypatch.setattr(af, "_request", api)
    run_id = af.trigger(FIRST)
    method, path, body = calls[-1]
    assert (method, path) == ("POST", "/api/v2/dags/corpus_nightly/dagRuns") and body["dag_run_id"] == run_id
    # The nightly run that builds FIRST fires at 02:00 the next day: the same interval, the same day.
    assert body["logical_date"] == interval(FIRST)["logical_date"]
    assert body["data_interval_start"].startswith(FIRST.isoformat())
    existing.append({"dag_run_id": "scheduled__x"})
    assert af.trigger(FIRST) == "scheduled__x"
    assert calls[-1][:2] == ("POST", "/api/v2/dags/corpus_nightly/dagRuns/scheduled__x/clear")


def test_a_locked_databases_500_is_retried_and_other_500s_are_not(af, monkeypatch):
    """On SQLite the api-server's audit-log insert can hit the scheduler's lock: 500 "Database error", the call
    rolled back. That is retried like a 503; any other 500 is an error."""
    locked = '{"detail":{"reason":"Database error","statement":"hidden","orig_error":"hidden"}}'
    created = {"id": 3, **RANGE, "completed_at": None}
    script = Scripted(posts=[http_error(500, locked), created], backfills=[[]], runs=[])
    monkeypatch.setattr(af, "_request", script)
    assert af.backfill(FIRST, LAST) == created
    script = Scripted(posts=[http_error(500, '{"detail":"boom"}')], backfills=[[]], runs=[])
    monkeypatch.setattr(af, "_request", script)
    with pytest.raises(ApiError, match="500"):
        af.backfill(FIRST, LAST)


def test_the_admin_password_is_generated_per_install_and_kept_0600(tmp_path):
    first, generated = standalone.admin_password(tmp_path)
    again, generated_again = standalone.admin_password(tmp_path)
    other, _ = standalone.admin_password(tmp_path / "other")
    assert generated and not generated_again
    assert first == again and first != other and first != "admin" and len(first) >= 20
    assert (tmp_path / standalone.PASSWORDS_FILE).stat().st_mode & 0o777 == 0o600


def test_the_standalone_listens_on_loopback_unless_asked(tmp_path, monkeypatch):
    from llm_lakehouse.core.settings import Settings

    settings = Settings.from_env({"LAKEHOUSE_HOME": str(tmp_path)})
    monkeypatch.delenv(standalone.BIND_ENV, raising=False)
    assert standalone.airflow_env(tmp_path / "af", 8080, settings)["AIRFLOW__API__HOST"] == "127.0.0.1"
    monkeypatch.setenv(standalone.BIND_ENV, "0.0.0.0")
    assert standalone.airflow_env(tmp_path / "af", 8080, settings)["AIRFLOW__API__HOST"] == "0.0.0.0"
