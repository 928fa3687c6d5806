"""A read-only web dashboard: the incidents, each one's whole story, and CI health.

Plain HTML rendered on the server from the records ``/api/incidents`` serves: no script,
no framework, every stored value escaped. An incident's page reads top to bottom like the
loop (alert, diagnosis, decision, actions, verification, outcome) and says how to undo
each action; the alert's evidence and the verification's readings are drawn with
``vanguard.plot``. Nothing here changes state: each page reads in a ``Store.read_session``,
which takes no write lock, so a view (``/audit`` walks the whole chain) never holds up the
worker's writes. Approvals and roll-backs stay with the CLI and Temporal signals, which
are audited but not authenticated: whoever can reach Temporal (or the embedded Web UI, when
turned on) can send one in any name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from vanguard.ci.health import (
    REPORT_COLUMNS,
    daily_success,
    health_figures,
    report_row,
    success_svg,
)
from vanguard.ci.records import CiRepo
from vanguard.decide import PolicyConfig
from vanguard.diagnose.patterns import Pattern
from vanguard.incident import Incident, IncidentState
from vanguard.learn import confidence_legend, pattern_confidences
from vanguard.model import (
    ActionResult,
    Alert,
    Decision,
    Diagnosis,
    EvidencePoint,
    Outcome,
    Verification,
)
from vanguard.notify.render import config_flag
from vanguard.plot import Panel, series_svg
from vanguard.store import AuditEntry, AuditLog, IncidentRecord, IncidentRepo, PauseRepo, Store

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 2rem 2rem;color:#1d2430;max-width:1100px}
nav{padding:.8rem 0;border-bottom:1px solid #ddd;margin-bottom:1rem}
nav a{margin-right:1.2rem;color:#1f4e9c;text-decoration:none;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
th,td{border-bottom:1px solid #e3e3e3;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600}
.state{padding:.1rem .45rem;border-radius:.6rem;font-size:.85em;background:#e8ecf2}
.resolved,.pass,.improved{background:#d8f0dc}
.escalated,.failed,.rolled_back,.fail,.degraded{background:#f8d7d3}
.awaiting_approval{background:#fdf0c8}
.paused{background:#fdf0c8;border-left:4px solid #c98a00;padding:.5rem .8rem;font-weight:600}
section{margin-top:1.4rem}h2{font-size:1.15rem;border-bottom:1px solid #eee}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;font-size:.85em}
.muted{color:#68707c}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{color:#68707c}dd{margin:0}
"""


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


REFRESH_S = 30
"""The incident list reloads itself this often, for a screen left open on call."""


def _page(
    title: str, body: str, *, status: int = 200, refresh_s: int | None = None
) -> HTMLResponse:
    reload = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{reload}'
        f"<title>{escape(title)} · Vanguard</title><style>{_STYLE}</style></head><body>"
        '<nav><a href="/">Incidents</a><a href="/ci">CI health</a>'
        '<a href="/patterns">Patterns</a><a href="/audit">Audit</a>'
        '<a href="/api/incidents">JSON</a></nav>'
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def bad_query(request: Request, problems: Sequence[Mapping[str, Any]]) -> HTMLResponse:
    """A page's query the route cannot take, said as a page (the API keeps FastAPI's JSON)."""
    items = "".join(
        f"<li><code>{escape('.'.join(str(p) for p in tuple(problem.get('loc', ()))[1:]))}"
        f"</code>: {escape(str(problem.get('msg', '')))}</li>"
        for problem in problems[:5]
    )
    body = (
        f"<h1>Not a query this page takes</h1><ul>{items}</ul>"
        f'<p><a href="{escape(request.url.path)}">the page without it</a></p>'
    )
    return _page("bad query", body, status=422)


def _state(state: str) -> str:
    return f'<span class="state {escape(state)}">{escape(state.replace("_", " "))}</span>'


def _when(at: datetime | None) -> str:
    return "–" if at is None else escape(at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table whose cells are already HTML (escaped by the caller)."""
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list of (name, HTML value) pairs."""
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _json(value: object) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


@router.get("/", response_class=HTMLResponse)
def index(
    request: Request,
    state: IncidentState | None = None,
    service: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> HTMLResponse:
    """Recent incidents, newest first, with counts by state and filters."""
    with _store(request).read_session() as session:
        repo = IncidentRepo(session)
        counts = repo.count_by_state()
        found = repo.list_incidents(limit=limit, state=state, service=service)
        pauses = PauseRepo(session).active(datetime.now(UTC))
    links = [f'<a href="/">all ({sum(counts.values())})</a>']
    for each in IncidentState:
        if counts.get(each):
            query = urlencode({"state": each.value})
            links.append(f'<a href="/?{query}">{_state(each.value)} {counts[each]}</a>')
    filters = " · ".join(links)
    shown = f"state {state.value}" if state else "every state"
    if service:
        shown += f", service {service}"
    if not found:
        listing = '<p class="muted">no incidents yet</p>' if not counts else "<p>none match</p>"
    else:
        listing = _table(
            ("incident", "state", "service", "metric", "detected", "updated", "summary"),
            (_incident_row(i) for i in found),
        )
    banner = "".join(
        f'<p class="paused">{escape(p.describe())} (vanguard automation resume'
        f"{escape(' --service ' + p.service_name) if p.service_name else ''}"
        f"{escape(_config_flag(request))})</p>"
        for p in pauses
    )
    return _page(
        "Incidents",
        f"<h1>Incidents</h1>{banner}<p>{filters}</p>"
        f'<p class="muted">{escape(shown)}, newest first, at most {limit}; '
        f"reloads every {REFRESH_S} s</p>{listing}",
        refresh_s=REFRESH_S,
    )


def _incident_row(incident: Incident) -> list[str]:
    alert = incident.alert
    href = "/incidents/" + quote(incident.incident_id, safe="")
    link = f'<a href="{href}">{escape(incident.incident_id)}</a>'
    return [
        link,
        _state(incident.state.value),
        escape(alert.service_name),
        escape(alert.metric_type),
        _when(alert.detected_at),
        _when(incident.history[-1].at),
        escape(alert.summary),
    ]


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request) -> HTMLResponse:
    """One incident as the loop lived it, with how to undo what was done."""
    with _store(request).read_session() as session:
        record = IncidentRepo(session).get_record(incident_id)
    if record is None:
        return _page(
            "Not found",
            f"<h1>No incident {escape(incident_id)}</h1><p><a href='/'>all incidents</a></p>",
            status=404,
        )
    record = record.redacted()
    inc = record.incident
    parts = [
        f"<h1>{escape(inc.incident_id)} {_state(inc.state.value)}</h1>",
        f"<p>{escape(inc.alert.summary)}</p>",
        _alert_section(inc.alert),
        _diagnosis_section(record.diagnosis),
        _decision_section(record.decision, _config_flag(request)),
        _actions_section(record.actions),
        _verification_section(record.verification or _outcome_verification(record)),
        _outcome_section(record.outcome),
        _timeline_section(inc),
        _audit_section(record.audit),
    ]
    return _page(inc.incident_id, "".join(parts))


def _points_svg(
    title: str,
    points: Sequence[EvidencePoint],
    *,
    level: float | None,
    spans: list[tuple[int, int]],
) -> str:
    if not points:
        return ""
    times = np.array([p.timestamp.timestamp() for p in points])
    values = np.array([p.value for p in points])
    return series_svg(times, [Panel(title, values, level=level)], title="", spans=spans)


def _alert_section(alert: Alert) -> str:
    trend = alert.trend_analysis
    facts = [
        ("service", escape(alert.service_name)),
        ("metric", escape(alert.metric_type)),
        ("labels", escape(", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())) or "–")),
        ("severity", escape(str(alert.severity))),
        ("detected", _when(alert.detected_at)),
        ("anomaly score", f"{alert.anomaly_score:.2f}"),
        ("confidence", f"{alert.confidence:.2f}"),
        ("baseline", "–" if alert.baseline is None else f"{alert.baseline:.4g}"),
        ("fingerprint", escape(alert.fingerprint)),
    ]
    if trend is not None:
        metric = alert.metric_type
        facts += [
            (
                "current / EMA",
                escape(
                    f"{trend.amount(trend.current, metric)} / {trend.amount(trend.ema, metric)}"
                ),
            ),
            ("slope per hour", escape(trend.amount(trend.slope_per_hour, metric))),
            (
                "threshold",
                "–" if trend.threshold is None else escape(trend.amount(trend.threshold, metric)),
            ),
            ("predicted breach", _when(trend.predicted_breach_time)),
            ("breach confidence", f"{trend.breach_confidence:.2f}"),
        ]
    level = trend.threshold if trend is not None else None
    plot = _points_svg("recent points (dashed: threshold)", alert.evidence, level=level, spans=[])
    return f"<section><h2>Alert</h2>{_facts(facts)}{plot}</section>"


def _diagnosis_section(diagnosis: Diagnosis | None) -> str:
    if diagnosis is None:
        return '<section><h2>Diagnosis</h2><p class="muted">not diagnosed yet</p></section>'
    remedy = diagnosis.remedy
    facts = [
        ("pattern", escape(diagnosis.pattern_id or "no known pattern")),
        ("confidence", f"{diagnosis.confidence:.2f}"),
        ("remedy", escape(remedy.action) if remedy else "none"),
        ("rollback safe", "yes" if diagnosis.rollback_safe else "no"),
        ("automation eligible", "yes" if diagnosis.automation_eligible else "no"),
    ]
    reasons = "".join(f"<li>{escape(r)}</li>" for r in diagnosis.reasons)
    params = _json(remedy.params) if remedy and remedy.params else ""
    return f"<section><h2>Diagnosis</h2>{_facts(facts)}{params}<ul>{reasons}</ul></section>"


def _config_flag(request: Request) -> str:
    """`` -c CONFIG`` for commands shown to copy, as notifications give them."""
    config: Path | None = getattr(request.app.state, "config", None)
    return config_flag(config)


def _decision_section(decision: Decision | None, flag: str = "") -> str:
    if decision is None:
        return '<section><h2>Decision</h2><p class="muted">not decided yet</p></section>'
    verdict = (
        "approved"
        if decision.approved
        else "waits for approval"
        if decision.needs_approval
        else "declined"
    )
    if decision.dry_run:
        verdict += " (dry run: nothing is applied)"
    rows = (
        (escape(v.gate), _state("pass" if v.passed else "fail"), escape(v.reason))
        for v in decision.verdicts
    )
    answer = ""
    if decision.needs_approval:
        iid = escape(decision.incident_id + flag)
        answer = (
            f"<p>To answer: <code>vanguard incidents approve {iid}</code> or "
            f"<code>vanguard incidents decline {iid}</code> (an approval runs every gate "
            "again).</p>"
        )
    return (
        f"<section><h2>Decision</h2><p><strong>{escape(verdict)}</strong> at "
        f"{_when(decision.decided_at)}: {escape(decision.reason)}</p>{answer}"
        f"{_table(('gate', 'verdict', 'reason'), rows)}</section>"
    )


def _actions_section(actions: Sequence[ActionResult]) -> str:
    if not actions:
        return '<section><h2>Actions</h2><p class="muted">nothing applied</p></section>'
    blocks = []
    for action in actions:
        undo = action.undo
        how = escape(undo.instructions) + ("" if undo.possible else " (cannot be undone)")
        facts = [
            ("action", f"{escape(action.action)} on {escape(action.target)}"),
            ("applied", "yes" if action.applied else "no"),
            ("finished", _when(action.finished_at)),
            ("message", escape(action.message)),
            ("how to undo", how),
        ]
        changed = _json({"before": action.before, "after": action.after})
        blocks.append(f"{_facts(facts)}{changed}")
    return "<section><h2>Actions</h2>" + "<hr>".join(blocks) + "</section>"


def _outcome_verification(record: IncidentRecord) -> Verification | None:
    return record.outcome.verification if record.outcome is not None else None


def _verification_section(verification: Verification | None) -> str:
    if verification is None:
        return '<section><h2>Verification</h2><p class="muted">not verified yet</p></section>'
    figures = ", ".join(f"{k} {v:.4g}" for k, v in sorted(verification.figures.items()))
    points = [*verification.baseline, *verification.observed]
    after = len(verification.baseline)
    spans = [(after, len(points) - 1)] if verification.observed else []
    plot = _points_svg("baseline, then after the action (shaded)", points, level=None, spans=spans)
    return (
        f"<section><h2>Verification</h2><p>{_state(verification.verdict.value)} "
        f"{escape(verification.reason)}</p><p class='muted'>{escape(figures)}</p>{plot}</section>"
    )


def _outcome_section(outcome: Outcome | None) -> str:
    if outcome is None:
        return '<section><h2>Outcome</h2><p class="muted">still running</p></section>'
    return (
        f"<section><h2>Outcome</h2><p>{_state(outcome.status.value)} at "
        f"{_when(outcome.finished_at)}: {escape(outcome.reason)}</p></section>"
    )


def _timeline_section(incident: Incident) -> str:
    rows = (
        (_when(change.at), _state(change.state.value), escape(change.reason))
        for change in incident.history
    )
    return f"<section><h2>Timeline</h2>{_table(('at', 'state', 'reason'), rows)}</section>"


def _audit_section(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return ""
    rows = (
        (
            str(e.seq),
            _when(e.at),
            escape(e.kind),
            f"<pre>{escape(json.dumps(e.payload, sort_keys=True, default=str))}</pre>",
            f"<code>{escape(e.hash[:12])}</code>",
        )
        for e in entries
    )
    return (
        "<section><h2>Audit trail</h2><p class='muted'>each entry is hash-chained to the "
        "one before; <a href='/audit'>check the whole chain</a></p>"
        f"{_table(('#', 'at', 'kind', 'payload', 'hash'), rows)}</section>"
    )


@router.get("/patterns", response_class=HTMLResponse)
def patterns_page(request: Request) -> HTMLResponse:
    """Each pattern's calibrated confidence, and whether it still acts without a person."""
    patterns: Sequence[Pattern] = request.app.state.patterns
    policy: PolicyConfig = request.app.state.policy
    with _store(request).read_session() as session:
        counts = IncidentRepo(session).outcome_counts(
            {p.id: p.remedy.action for p in patterns},
            breaker_threshold=policy.breaker_threshold,
        )
    rows = [
        [
            escape(f"{row.pattern_id} v{row.version}"),
            escape(row.action),
            f"{row.prior:.2f}",
            f"{row.won:g}",
            f"{row.lost:g}",
            f"{row.confidence:.2f}",
            f'<span class="state pass">{escape(row.reason)}</span>'
            if row.acts_alone
            else f'<span class="state fail">{escape(row.reason)}</span>',
        ]
        for row in pattern_confidences(patterns, counts, policy)
    ]
    head = ("pattern", "action", "prior", "won", "lost", "confidence now", "acts alone")
    body = (
        _table(head, rows)
        if rows
        else '<p class="muted">no pattern library loaded in this process</p>'
    )
    note = f'<p class="muted">{escape(confidence_legend(policy), quote=False)}</p>'
    return _page("Patterns", f"<h1>Patterns</h1>{body}{note}")


@router.get("/audit", response_class=HTMLResponse)
def audit_check(request: Request) -> HTMLResponse:
    """Walk the whole audit chain and say whether it holds (on demand: it reads every entry)."""
    with _store(request).read_session() as session:
        check = AuditLog(session).verify_chain()
    verdict = _state("pass" if check.ok else "fail")
    where = "" if check.first_bad_id is None else f" First entry that fails: {check.first_bad_id}."
    return _page(
        "Audit chain",
        f"<h1>Audit chain</h1><p>{verdict} {escape(check.reason)}.{escape(where)}</p>",
    )


@router.get("/ci", response_class=HTMLResponse)
def ci_health(
    request: Request,
    repo: str | None = None,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
) -> HTMLResponse:
    """CI health per repository and workflow, and each repository's daily success."""
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    with _store(request).read_session() as session:
        attempts = CiRepo(session).attempts(repository=repo, since=since)
    figures = health_figures(attempts)
    if not figures:
        body = f'<p class="muted">no finished CI runs recorded in the last {days} day(s)</p>'
    else:
        rows = ([escape(cell) for cell in report_row(f)] for f in figures)
        body = _table(REPORT_COLUMNS, rows) + success_svg(daily_success(attempts), since, until)
    return _page("CI health", f"<h1>CI health, last {days} days</h1>{body}")
