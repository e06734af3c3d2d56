"""The dashboard's plain parts: rates per day, charts, the evaluation table, job steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from repomend.contract.conversation import Mode
from repomend.settings import ServerSettings
from server.db.engine import make_engine, session_factory
from server.db.models import (
    Feedback,
    Repair,
    RepairStatus,
    Repository,
    TrainingRun,
    TrainingState,
    Verdict,
)
from server.ui import queries
from server.ui.access import Role, role_for_token, safe_next
from server.ui.charts import line_chart
from tests.support.dashboard import eval_report


def test_rates_per_day_per_repository_and_per_adapter(tmp_path):
    from server.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with sessions() as session:
        repo = Repository(name="r", path="/r", python="/p")
        session.add(repo)
        session.flush()

        def repair(status: RepairStatus, when: datetime, verdict: Verdict | None = None) -> None:
            row = Repair(
                repository_id=repo.id, model="m", mode=Mode.NO_THINK, max_turns=5, status=status,
                file_path="a.py", qualname="f", created_at=when,
            )  # fmt: skip
            if verdict is not None:
                row.feedback = Feedback(verdict=verdict)
            session.add(row)

        repair(RepairStatus.FIXED, day, Verdict.ACCEPTED)
        repair(RepairStatus.FIXED, day, Verdict.REJECTED)
        repair(RepairStatus.UNFIXED, day)
        repair(RepairStatus.CANCELLED, day)  # not decided by the tests: left out of the fix rate
        repair(RepairStatus.FIXED, day + timedelta(days=2), Verdict.ACCEPTED)
        session.commit()
        found = queries.rates(session)
        by_adapter = queries.rates(session, repo)
    engine.dispose()

    assert found.days == ["2026-03-01", "2026-03-02", "2026-03-03"], "days without repairs are gaps"
    first = found.series["r"]["2026-03-01"]
    assert (first.repairs, first.fixed, first.decided, first.accepted, first.judged) == (4, 2, 3, 1, 2)
    assert first.fix_rate == pytest.approx(2 / 3) and first.acceptance_rate == 0.5
    assert found.totals["r"].fix_rate == 0.75 and found.totals["r"].acceptance_rate == pytest.approx(2 / 3)
    assert list(by_adapter.series) == ["base model"]
    chart = found.chart("fix_rate")
    (line,) = chart.lines
    assert len(line.segments) == 2 and len(line.dots) == 2, "the missing day breaks the line"


def test_charts_place_values_inside_the_frame():
    chart = line_chart(["a", "b", "c"], [("x", [0.0, None, 1.0])])
    (line,) = chart.lines
    (low, _, _), (high, top, _) = line.dots
    assert low < high and 0 < top < chart.height
    assert line_chart(["a"], [("x", [None])]).empty


def test_the_evaluation_table_reads_the_report_as_evaluation_writes_it():
    view = queries.evaluation_view(eval_report(["base", "sft"], turns=3))
    assert view is not None and view.ks == [1, 2, 3] and view.methods == 12
    sft = next(r for r in view.rows if r.model == "sft" and r.mode == "no-think")
    assert sft.pass_at == [0.35, 0.4, 0.45] and (sft.fixed, sft.n) == (5, 12) and sft.codebleu == 0.61
    assert queries.evaluation_view(None) is None and queries.evaluation_view({"results": "nonsense"}) is None


def test_job_steps_show_done_running_skipped_and_pending():
    done = {"extract": {"seconds": 1.5, "methods": 3}, "generate": {"seconds": 2}, "dataset": {"seconds": 1}}
    config = {"dpo": False, "grpo": True}
    run = TrainingRun(state=TrainingState.RUNNING, step="sft", progress=0.55, config=config, steps=done)
    steps = {s.name: s for s in queries._steps(run)}
    assert steps["extract"].state == "done" and steps["extract"].summary == {"methods": 3}
    assert steps["sft"].state == "running" and steps["sft"].fraction == pytest.approx(0.5)
    assert steps["dpo"].state == "skipped" and steps["grpo"].state == "pending"


def test_roles_follow_the_apis_tokens():
    both = ServerSettings(token="u", admin_token="a")
    assert role_for_token(both, "a") is Role.ADMIN and role_for_token(both, "u") is Role.USER
    assert role_for_token(both, "x") is None and role_for_token(both, None) is None
    only = ServerSettings(token="u")
    assert role_for_token(only, "u") is Role.ADMIN, "without an admin token the one token administers"
    assert role_for_token(ServerSettings(), None) is Role.ADMIN, "an open (localhost) server is open"
    assert safe_next("/ui/repairs?page=2") == "/ui/repairs?page=2"
    for target in ("https://elsewhere.example", "//elsewhere.example/ui", "/v1/admin", None):
        assert safe_next(target) == "/ui"


def test_access_logs_never_show_a_token_from_an_address():
    import logging

    from server.ui.access import HideTokens

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/ui/repairs?page=2&token=admin-secret&x=1", "1.1", 303), None,
    )  # fmt: skip
    assert HideTokens().filter(record)
    assert "admin-secret" not in record.getMessage() and "page=2&token=...&x=1" in record.getMessage()
