"""What the dashboard pages show, as plain functions over a database session.

Every list is bounded (pages of `PAGE_SIZE`, the newest first) and every figure is computed by the
database with GROUP BY, so a page costs the same with ten or ten thousand stored repairs. Large
columns (conversations, diffs, logs) are loaded only on the page of the one row that shows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from repomend.fix_types import fix_type
from server import adapters
from server.db.models import (
    Adapter,
    AdapterActivation,
    Feedback,
    Repair,
    RepairStatus,
    Repository,
    TrainingRun,
    TrainingState,
    Turn,
    Verdict,
)
from server.errors import ApiError
from server.retraining.launcher import job_folder
from server.retraining.pipeline import SPANS
from server.retraining.policy import policy_of
from server.retraining.runs import LIVE
from server.ui.charts import Chart, line_chart


def stored_fix_type(
    status: RepairStatus | str, stored: str | None, original: str | None, fixed: str | None
) -> str | None:
    """The kind of fix a repair stored; read from its two methods for rows from before it did."""
    if status != RepairStatus.FIXED:
        return None
    return stored or fix_type(original, fixed)


PAGE_SIZE = 50
RATE_DAYS = 90
"""The charts show at most this many days, ending with the newest repair's day."""
LOG_TAIL_LINES = 200
TOKEN_SAMPLE_TURNS = 500
BASE_MODEL = "base model"
PLOT_FILE = "pass_at.png"
"""What evaluation writes beside `eval_report.json` (training.report.PLOT_FILE)."""


# -- tallies ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    repairs: int = 0
    fixed: int = 0
    decided: int = 0
    """Repairs that ran to a verdict of the tests: fixed or not fixed."""
    accepted: int = 0
    judged: int = 0
    """Repairs the user accepted or rejected."""

    def add(self, other: Tally) -> None:
        self.repairs += other.repairs
        self.fixed += other.fixed
        self.decided += other.decided
        self.accepted += other.accepted
        self.judged += other.judged

    @property
    def fix_rate(self) -> float | None:
        return self.fixed / self.decided if self.decided else None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.judged if self.judged else None


DECIDED = [RepairStatus.FIXED, RepairStatus.UNFIXED, RepairStatus.UNVERIFIED]
"""Outcomes the tests decided; the rest (already passing, cancelled, failed) say nothing of the model."""


def _tally_columns() -> list:
    decided = Repair.status.in_(DECIDED)
    return [
        func.count(Repair.id),
        func.coalesce(func.sum(case((Repair.status == RepairStatus.FIXED, 1), else_=0)), 0),
        func.coalesce(func.sum(case((decided, 1), else_=0)), 0),
        func.coalesce(func.sum(case((Feedback.verdict == Verdict.ACCEPTED, 1), else_=0)), 0),
        func.count(Feedback.id),
    ]


def _tally(row: Any, offset: int) -> Tally:
    values = [int(v or 0) for v in tuple(row)[offset : offset + 5]]
    return Tally(*values)


# -- repositories ----------------------------------------------------------------------------------


@dataclass
class RepositoryRow:
    repository: Repository
    active: str | None
    tally: Tally
    last_repair_at: datetime | None
    live_job: TrainingRun | None
    adapter_count: int


def repositories_overview(session: Session, only: Repository | None = None) -> list[RepositoryRow]:
    """Every repository (or `only` that one) with its tallies, active adapter and live job."""
    tallies = (
        select(Repair.repository_id, *_tally_columns(), func.max(Repair.created_at))
        .outerjoin(Feedback, Feedback.repair_id == Repair.id)
        .group_by(Repair.repository_id)
    )
    if only is not None:
        tallies = tallies.where(Repair.repository_id == only.id)
    counts = {row[0]: (_tally(row, 1), row[6]) for row in session.execute(tallies)}
    active = {
        row[0]: f"v{row[1]}"
        for row in session.execute(select(Adapter.repository_id, Adapter.version).where(Adapter.active))
    }
    versions = dict(
        session.execute(
            select(Adapter.repository_id, func.count())
            .where(Adapter.deleted_at.is_(None))
            .group_by(Adapter.repository_id)
        ).all()
    )
    live = {
        run.repository_id: run
        for run in session.scalars(select(TrainingRun).where(TrainingRun.state.in_(LIVE)))
    }
    rows = []
    for repository in (
        [only] if only is not None else session.scalars(select(Repository).order_by(Repository.name))
    ):
        tally, last = counts.get(repository.id, (Tally(), None))
        rows.append(
            RepositoryRow(
                repository,
                active.get(repository.id),
                tally,
                last,
                live.get(repository.id),
                int(versions.get(repository.id, 0)),
            )
        )
    return rows


def repository_names(session: Session) -> list[str]:
    return list(session.scalars(select(Repository.name).order_by(Repository.name)))


def repository_by_name(session: Session, name: str) -> Repository:
    found = session.scalar(select(Repository).where(Repository.name == name))
    if found is None:
        raise ApiError(404, "repository_not_found", f"no registered repository `{name}`")
    return found


# -- rates over time -------------------------------------------------------------------------------


@dataclass
class Rates:
    days: list[str]
    series: dict[str, dict[str, Tally]]
    """label -> day -> tally."""
    totals: dict[str, Tally]

    def chart(self, which: str) -> Chart:
        """`which` is "fix_rate" or "acceptance_rate"."""
        lines = [
            (label, [getattr(by_day[day], which) if day in by_day else None for day in self.days])
            for label, by_day in self.series.items()
        ]
        return line_chart(self.days, lines)


def _day(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _days_ending(last: str, first: str) -> list[str]:
    end = date.fromisoformat(last)
    start = max(date.fromisoformat(first), end - timedelta(days=RATE_DAYS - 1))
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def rates(session: Session, repository: Repository | None = None) -> Rates:
    """Fix and acceptance rates per day: per repository, or per adapter version of one repository."""
    day = func.date(Repair.created_at)
    key = Adapter.version if repository is not None else Repository.name
    query = (
        select(key, day, *_tally_columns())
        .join(Repository, Repository.id == Repair.repository_id)
        .outerjoin(Adapter, Adapter.id == Repair.adapter_id)
        .outerjoin(Feedback, Feedback.repair_id == Repair.id)
        .group_by(key, day)
    )
    if repository is not None:
        query = query.where(Repair.repository_id == repository.id)
    series: dict[str, dict[str, Tally]] = {}
    totals: dict[str, Tally] = {}
    for row in session.execute(query):
        label = (f"v{row[0]}" if row[0] is not None else BASE_MODEL) if repository is not None else row[0]
        tally = _tally(row, 2)
        series.setdefault(label, {})[_day(row[1])] = tally
        totals.setdefault(label, Tally()).add(tally)
    all_days = sorted({d for by_day in series.values() for d in by_day})
    days = _days_ending(all_days[-1], all_days[0]) if all_days else []
    ordered = sorted(series, key=lambda label: (label != BASE_MODEL, len(label), label))
    return Rates(
        days, {label: series[label] for label in ordered}, {label: totals[label] for label in ordered}
    )


# -- repairs ---------------------------------------------------------------------------------------


@dataclass
class RepairRow:
    id: int
    created_at: datetime
    repository: str
    path: str
    qualname: str
    status: str
    mode: str
    adapter: str | None
    turns: int
    tests_ran: int | None
    tests_passed: int | None
    fix_type: str | None
    verdict: str | None
    seconds: float | None
    error_code: str | None


@dataclass
class Page:
    rows: list
    number: int
    pages: int
    total: int
    size: int = PAGE_SIZE


def _page_number(page: int, total: int, size: int) -> tuple[int, int]:
    pages = max(1, math.ceil(total / size))
    return min(max(page, 1), pages), pages


def outcome_counts(results: dict[str, Any] | None) -> tuple[int, int] | None:
    """(tests that ran, tests that passed) of a stored sandbox run; None when nothing ran."""
    if not results:
        return None
    tests = [t for t in results.get("tests") or [] if isinstance(t, dict)]
    ran = [t for t in tests if t.get("outcome") != "skipped"]
    return len(ran), sum(1 for t in ran if t.get("outcome") in ("passed", "xfailed"))


def _filtered(query: Select, repository: str | None, status: str | None, verdict: str | None) -> Select:
    if repository:
        query = query.where(Repository.name == repository)
    if status:
        query = query.where(Repair.status == RepairStatus(status))
    if verdict == "none":
        query = query.where(Feedback.id.is_(None))
    elif verdict:
        query = query.where(Feedback.verdict == Verdict(verdict))
    return query


def repairs_page(
    session: Session,
    *,
    repository: str | None = None,
    status: str | None = None,
    verdict: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """The newest repairs first, `size` to a page, filtered by repository, status and user verdict."""
    base = select(func.count(Repair.id))
    if repository:
        base = base.join(Repository, Repository.id == Repair.repository_id)
    if verdict:
        base = base.outerjoin(Feedback, Feedback.repair_id == Repair.id)
    total = session.scalar(_filtered(base, repository, status, verdict)) or 0
    number, pages = _page_number(page, total, size)
    query = (
        select(
            Repair.id,
            Repair.created_at,
            Repository.name,
            Repair.file_path,
            Repair.qualname,
            Repair.status,
            Repair.mode,
            Adapter.version,
            Repair.seconds,
            Repair.error_code,
            Repair.original_method,
            Repair.new_method,
            Feedback.verdict,
            Repair.fix_type,
        )
        .join(Repository, Repository.id == Repair.repository_id)
        .outerjoin(Adapter, Adapter.id == Repair.adapter_id)
        .outerjoin(Feedback, Feedback.repair_id == Repair.id)
        .order_by(Repair.id.desc())
        .limit(size)
        .offset((number - 1) * size)
    )
    found = session.execute(_filtered(query, repository, status, verdict)).all()
    turns = _turn_summaries(session, [row[0] for row in found])
    rows = []
    for row in found:
        count, last = turns.get(row[0], (0, None))
        ran, passed = outcome_counts(last) or (None, None)
        status_value = row[5].value
        rows.append(
            RepairRow(
                id=row[0],
                created_at=row[1],
                repository=row[2],
                path=row[3],
                qualname=row[4],
                status=status_value,
                mode=row[6].value,
                adapter=f"v{row[7]}" if row[7] is not None else None,
                turns=count,
                tests_ran=ran,
                tests_passed=passed,
                fix_type=stored_fix_type(status_value, row[13], row[10], row[11]),
                verdict=row[12].value if row[12] is not None else None,
                seconds=row[8],
                error_code=row[9],
            )
        )
    return Page(rows, number, pages, total, size)


def _turn_summaries(session: Session, repair_ids: list[int]) -> dict[int, tuple[int, dict | None]]:
    """Per repair: how many turns it took and the sandbox results of its last chosen attempt."""
    if not repair_ids:
        return {}
    found: dict[int, tuple[int, dict | None]] = {}
    query = (
        select(Turn.repair_id, Turn.turn, Turn.results)
        .where(Turn.repair_id.in_(repair_ids), Turn.chosen)
        .order_by(Turn.repair_id, Turn.turn)
    )
    for repair_id, turn, results in session.execute(query):
        found[repair_id] = (max(turn, found.get(repair_id, (0, None))[0]), results)
    return found


@dataclass
class TurnView:
    turn: Turn
    tests: tuple[int, int] | None
    tokens_per_second: float | None


@dataclass
class RepairView:
    repair: Repair
    turns: list[TurnView]
    fix_type: str | None
    diff_lines: list[tuple[str, str]]
    last_attempt: str | None
    failure: str | None


def diff_lines(diff: str | None) -> list[tuple[str, str]]:
    """(css class, line) per line of a unified diff."""
    lines = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append((kind, line))
    return lines


def repair_view(session: Session, repair_id: int) -> RepairView:
    repair = session.get(Repair, repair_id)
    if repair is None:
        raise ApiError(404, "repair_not_found", f"no repair {repair_id}")
    turns = [
        TurnView(
            t,
            outcome_counts(t.results),
            t.completion_tokens / t.generation_seconds if t.generation_seconds > 0 else None,
        )
        for t in repair.turns
    ]
    chosen = [t for t in repair.turns if t.chosen]
    unfixed = repair.status is RepairStatus.UNFIXED and chosen
    return RepairView(
        repair=repair,
        turns=turns,
        fix_type=stored_fix_type(repair.status, repair.fix_type, repair.original_method, repair.new_method),
        diff_lines=diff_lines(repair.diff),
        last_attempt=chosen[-1].candidate if unfixed else None,
        failure=chosen[-1].feedback if unfixed else None,
    )


def recent_repairs(session: Session, repository: str, size: int = 10) -> list[RepairRow]:
    return repairs_page(session, repository=repository, size=size).rows


# -- adapters --------------------------------------------------------------------------------------


@dataclass
class EvalRow:
    model: str
    mode: str
    adapter: str | None
    pass_at: list[float | None]
    fixed: int | None
    n: int | None
    exact_match: float | None
    codebleu: float | None
    failures: dict[str, int]


@dataclass
class Evaluation:
    ks: list[int]
    rows: list[EvalRow]
    methods: int | None
    created_at: str | None
    chart: Chart


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evaluation_view(report: dict[str, Any] | None) -> Evaluation | None:
    """The Pass@k table of an `eval_report.json`; None when there is none or it has no results."""
    if not isinstance(report, dict) or not isinstance(report.get("results"), dict):
        return None
    turns = (report.get("config") or {}).get("turns")
    models = report.get("models") or {}
    rows = []
    ks: set[int] = set()
    for model, by_mode in report["results"].items():
        if not isinstance(by_mode, dict):
            continue
        for mode, cell in by_mode.items():
            if not isinstance(cell, dict):
                continue
            pass_at = {int(k): _number(v) for k, v in (cell.get("pass_at") or {}).items() if str(k).isdigit()}
            ks.update(pass_at)
            codebleu = cell.get("codebleu")
            rows.append(
                EvalRow(
                    model=str(model),
                    mode=str(mode),
                    adapter=(models.get(model) or {}).get("adapter")
                    if isinstance(models.get(model), dict)
                    else None,
                    pass_at=[pass_at.get(k) for k in range(1, (turns or max(pass_at, default=0)) + 1)],
                    fixed=cell.get("fixed") if isinstance(cell.get("fixed"), int) else None,
                    n=cell.get("n") if isinstance(cell.get("n"), int) else None,
                    exact_match=_number(cell.get("exact_match")),
                    codebleu=_number(codebleu.get("codebleu")) if isinstance(codebleu, dict) else None,
                    failures={
                        str(k): v for k, v in (cell.get("failures") or {}).items() if isinstance(v, int)
                    },
                )
            )
    if not rows:
        return None
    k_list = list(range(1, (turns or max(ks, default=1)) + 1))
    chart = line_chart(
        [f"k={k}" for k in k_list], [(f"{r.model} ({r.mode})", r.pass_at[: len(k_list)]) for r in rows]
    )
    counts = (report.get("benchmark") or {}).get("counts") or {}
    return Evaluation(k_list, rows, counts.get("methods"), report.get("created_at"), chart)


@dataclass
class AdapterView:
    repository: Repository
    adapter: Adapter
    evaluation: Evaluation | None
    plot: Path | None
    history: list[AdapterActivation]
    job: TrainingRun | None


def plot_file(
    settings: Any, repository: Repository, adapter: Adapter, job: TrainingRun | None
) -> Path | None:
    """The Pass@k curve evaluation drew: in the adapter's folder, else in the folder of the job
    that trained it."""
    candidates = [Path(adapter.path) / PLOT_FILE] if adapter.deleted_at is None else []
    if job is not None:
        candidates.append(job_folder(settings, repository.name, job.id) / "eval" / PLOT_FILE)
    return next((p for p in candidates if p.is_file()), None)


def adapter_view(session: Session, settings: Any, name: str, version: str) -> AdapterView:
    repository = repository_by_name(session, name)
    adapter = adapters.get_adapter(session, repository, version)
    job = session.scalar(select(TrainingRun).where(TrainingRun.adapter_id == adapter.id).limit(1))
    history = [
        event
        for event in adapters.activation_history(session, repository)
        if adapter.version in (event.version, event.previous_version)
    ]
    plot = plot_file(settings, repository, adapter, job)
    return AdapterView(repository, adapter, evaluation_view(adapter.evaluation), plot, history, job)


@dataclass
class RepositoryView:
    repository: Repository
    row: RepositoryRow
    adapters: list[Adapter]
    history: list[AdapterActivation]
    can_roll_back: bool
    recent: list[RepairRow]
    jobs: list[TrainingRun]
    rates: Rates
    policy: dict[str, Any]


def repository_view(session: Session, name: str) -> RepositoryView:
    repository = repository_by_name(session, name)
    (row,) = repositories_overview(session, repository)
    history = adapters.activation_history(session, repository)
    can_roll_back = any(e.action.value in ("activate", "deactivate") and not e.reverted for e in history)
    jobs = list(
        session.scalars(
            select(TrainingRun)
            .where(TrainingRun.repository_id == repository.id)
            .order_by(TrainingRun.id.desc())
            .limit(10)
        )
    )
    return RepositoryView(
        repository=repository,
        row=row,
        adapters=adapters.list_adapters(session, repository, include_deleted=True),
        history=list(reversed(history)),
        can_roll_back=can_roll_back,
        recent=recent_repairs(session, repository.name),
        jobs=jobs,
        rates=rates(session, repository),
        policy=policy_of(repository.retraining).model_dump(),
    )


# -- retraining jobs -------------------------------------------------------------------------------


@dataclass
class StepView:
    name: str
    state: str
    """done, running, pending, skipped."""
    fraction: float
    seconds: float | None
    summary: dict[str, Any] = field(default_factory=dict)


def _steps(run: TrainingRun) -> list[StepView]:
    done = run.steps or {}
    config = run.config or {}
    live = run.state in LIVE
    found = []
    for name, (start, end) in SPANS.items():
        if name in done:
            info = dict(done[name]) if isinstance(done[name], dict) else {}
            seconds = info.pop("seconds", None)
            found.append(StepView(name, "done", 1.0, _number(seconds), info))
        elif name == run.step:
            fraction = min(max((run.progress - start) / (end - start), 0.0), 1.0) if end > start else 0.0
            found.append(StepView(name, "running" if live else run.state.value, fraction, None))
        elif name in ("dpo", "grpo") and not config.get(name):
            found.append(StepView(name, "skipped", 0.0, None))
        else:
            found.append(StepView(name, "pending" if live else "not run", 0.0, None))
    return found


def log_tail(log: str | None, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join((log or "").splitlines()[-lines:])


@dataclass
class JobView:
    run: TrainingRun
    steps: list[StepView]
    log_tail: str
    live: bool


def job_view(session: Session, run_id: int) -> JobView:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise ApiError(404, "training_run_not_found", f"no retraining job {run_id}")
    return JobView(run, _steps(run), log_tail(run.log), run.state in LIVE)


def job_live(view: JobView) -> dict[str, Any]:
    """What the job page refreshes every few seconds, already formatted for display."""
    run = view.run
    return {
        "finished": not view.live,
        "state": run.state.value,
        "step": run.step or "–",
        "progress": round(run.progress, 4),
        "percent": f"{100 * run.progress:.0f}%",
        "reason": run.reason or "",
        "log_tail": view.log_tail,
        "steps": {
            s.name: {
                "state": s.state,
                "fraction": round(s.fraction, 4),
                "percent": f"{100 * s.fraction:.0f}%",
                "seconds": "" if s.seconds is None else f"{s.seconds:.1f} s",
            }
            for s in view.steps
        },
    }


def jobs_page(
    session: Session, *, repository: str | None = None, page: int = 1, size: int = PAGE_SIZE
) -> Page:
    count = select(func.count(TrainingRun.id)).join(Repository, Repository.id == TrainingRun.repository_id)
    query = (
        select(TrainingRun)
        .join(Repository, Repository.id == TrainingRun.repository_id)
        .order_by(TrainingRun.id.desc())
    )
    if repository:
        count, query = count.where(Repository.name == repository), query.where(Repository.name == repository)
    total = session.scalar(count) or 0
    number, pages = _page_number(page, total, size)
    rows = list(session.scalars(query.limit(size).offset((number - 1) * size)))
    return Page(rows, number, pages, total, size)


# -- the engine ------------------------------------------------------------------------------------


@dataclass
class Throughput:
    model: str
    turns: int
    completion_tokens: int
    prompt_tokens: int
    generation_seconds: float

    @property
    def tokens_per_second(self) -> float | None:
        return self.completion_tokens / self.generation_seconds if self.generation_seconds > 0 else None


def throughput(session: Session, sample: int = TOKEN_SAMPLE_TURNS) -> list[Throughput]:
    """Decode speed per served model over the newest `sample` attempts."""
    newest = select(Turn.id).order_by(Turn.id.desc()).limit(sample).subquery()
    query = (
        select(
            Repair.model,
            func.count(Turn.id),
            func.coalesce(func.sum(Turn.completion_tokens), 0),
            func.coalesce(func.sum(Turn.prompt_tokens), 0),
            func.coalesce(func.sum(Turn.generation_seconds), 0.0),
        )
        .join(Repair, Repair.id == Turn.repair_id)
        .where(Turn.id.in_(select(newest.c.id)), Turn.generation_seconds > 0)
        .group_by(Repair.model)
        .order_by(func.count(Turn.id).desc())
    )
    return [
        Throughput(str(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in session.execute(query)
    ]


def live_job_count(session: Session) -> int:
    return session.scalar(select(func.count(TrainingRun.id)).where(TrainingRun.state.in_(LIVE))) or 0


def job_states() -> list[str]:
    return [s.value for s in TrainingState]
