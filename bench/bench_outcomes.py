"""What a long outcome history costs each diagnosis and each decision.

A SQLite store holds ``--outcomes`` finished incidents of the built-in
``memory_leak_gradual`` pattern (drawn at random: 88 % resolved, 10 % escalated, 2 %
declined) on ``--services`` services; then fresh incidents on the first service are
diagnosed (calibration reads every pattern's record) and decided (the breaker reads the
pattern's streak on the service, under the decision lock), with the real activities outside
Temporal. It prints the median time of each. Target: both stay well under the activities'
heartbeat and start-to-close budgets whatever the history; exit 1 when either median
passes ``MAX_S``.

    .venv/bin/python bench/bench_outcomes.py [--outcomes 20000] [--services 1] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from regression import verdict
from vanguard.act.base import MemoryLedger
from vanguard.config import Settings
from vanguard.diagnose.patterns import load_patterns
from vanguard.engine.activities import Activities
from vanguard.engine.messages import DecideInput, DiagnoseInput, OpenInput
from vanguard.incident import Incident
from vanguard.model import Alert, Outcome, OutcomeStatus, TrendAnalysis
from vanguard.store import default_store_url, open_store
from vanguard.store.tables import IncidentRow, OutcomeRow

MAX_S = 0.5
PATTERN = "memory_leak_gradual"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _alert(n: int, service: str, at: datetime) -> Alert:
    return Alert(
        alert_id=f"a-{n}",
        fingerprint=f"{service}/mem",
        source="detector:trend",
        service_name=service,
        metric_type="process_resident_memory_bytes",
        detected_at=at,
        summary="memory rising",
        anomaly_score=0.5,
        confidence=1.0,
        trend_analysis=TrendAnalysis(
            current=1.2e9,
            ema=1.0e9,
            slope_per_hour=2.0e8,
            zscore=3.0,
            threshold=1.5e9,
            predicted_breach_time=at + timedelta(hours=1),
            breach_confidence=0.9,
        ),
    )


def _status(rng: random.Random) -> OutcomeStatus:
    draw = rng.random()
    if draw < 0.02:
        return OutcomeStatus.declined
    return OutcomeStatus.escalated if draw < 0.12 else OutcomeStatus.resolved


def _history(store_url: str, outcomes: int, services: int) -> None:
    """``outcomes`` finished incidents, inserted in bulk as the store holds them."""
    store = open_store(store_url)
    rng = random.Random(1)
    try:
        incidents, finished = [], []
        for n in range(outcomes):
            at = T0 + timedelta(minutes=n)
            incident = Incident.open(f"h{n}", _alert(n, f"svc{n % services}", at))
            incidents.append(
                {
                    "incident_id": f"h{n}",
                    "state": "resolved",
                    "service_name": f"svc{n % services}",
                    "opened_at": at,
                    "updated_at": at,
                    "body": incident.model_dump(mode="json"),
                }
            )
            outcome = Outcome(
                incident_id=f"h{n}",
                pattern_id=PATTERN,
                status=_status(rng),
                reason="bench",
                finished_at=at + timedelta(minutes=5),
            )
            finished.append(
                {
                    "incident_id": f"h{n}",
                    "pattern_id": PATTERN,
                    "status": outcome.status.value,
                    "finished_at": outcome.finished_at,
                    "body": outcome.model_dump(mode="json"),
                }
            )
        with store.session() as session:
            session.execute(insert(IncidentRow), incidents)
            session.execute(insert(OutcomeRow), finished)
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outcomes", type=int, default=20_000)
    parser.add_argument("--services", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = default_store_url(Path(tmp))
        _history(url, args.outcomes, args.services)
        store = open_store(url)
        now = T0 + timedelta(minutes=args.outcomes + 60)
        acts = Activities(
            Settings(data_dir=Path(tmp)),
            store,
            load_patterns(),
            {},
            MemoryLedger(),
            [],
            clock=lambda: now,
        )
        diagnosing: list[float] = []
        deciding: list[float] = []
        try:
            for run in range(args.runs):
                iid = f"bench-{run}"
                alert = _alert(args.outcomes + run, "svc0", now)
                acts.open_incident(OpenInput(incident_id=iid, alert=alert))
                started = time.perf_counter()
                diagnosis = acts.diagnose(DiagnoseInput(incident_id=iid, alert=alert))
                diagnosing.append(time.perf_counter() - started)
                started = time.perf_counter()
                decision = acts.decide(
                    DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis)
                )
                deciding.append(time.perf_counter() - started)
                print(
                    f"run {run + 1}: diagnose {diagnosing[-1]:.3f} s "
                    f"({diagnosis.pattern_id}, {diagnosis.confidence:.3f}), "
                    f"decide {deciding[-1]:.3f} s ({decision.reason[:60]})"
                )
        finally:
            store.close()
    diagnose_s, decide_s = statistics.median(diagnosing), statistics.median(deciding)
    print(
        f"{args.outcomes:,} outcomes on {args.services} service(s): median diagnose "
        f"{diagnose_s:.3f} s, decide {decide_s:.3f} s"
    )
    failures = [
        f"median {step} took {took:.2f} s > {MAX_S} s"
        for step, took in (("diagnose", diagnose_s), ("decide", decide_s))
        if took > MAX_S
    ]
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
