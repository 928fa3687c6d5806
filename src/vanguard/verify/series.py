"""Several series judged together: each against its own baseline, then one verdict (pure).

A verify entry may match one series per pool or instance, and several entries may judge one
remedy. Each series is judged by its own baseline under its full name; the first entry's
series decide, the others may veto. Which of the series read is the alert's own is one
answer (``own_series``) for every step of verification.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum, auto
from typing import TypeVar

from vanguard.config import VerifyMetric
from vanguard.model import EvidencePoint, Verdict, Verification
from vanguard.redact import redact_text
from vanguard.verify.compare import holm, unproven

__all__ = [
    "LISTED",
    "MAX_SERIES",
    "SeriesJudgement",
    "Unmatched",
    "combine_verifications",
    "judge_each_series",
    "labels_from_key",
    "labels_key",
    "labels_text",
    "metric_key",
    "own_series",
]

K = TypeVar("K", bound=Hashable)

MAX_SERIES = 50
"""Series one verify entry may match; past it the entry is inconclusive, not judged."""

LISTED = 10
"""Series a reason names one by one; the rest are counted."""


def labels_key(labels: Mapping[str, str]) -> str:
    """A series' labels as a key no label value can collide in (values may hold ``,`` or ``=``)."""
    return json.dumps(sorted(labels.items()))


def labels_from_key(key: str) -> dict[str, str]:
    """The labels a ``labels_key`` was made from."""
    return {str(name): str(value) for name, value in json.loads(key)}


def labels_text(labels: Mapping[str, str]) -> str:
    """A series' labels as people read them: ``database=app,user=rw``."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def metric_key(metric: VerifyMetric) -> str:
    """A verify entry as a key: its metric and labels, free of collisions like ``labels_key``."""
    return json.dumps([metric.metric, sorted(metric.labels.items())])


@dataclass(frozen=True)
class SeriesJudgement:
    """One series judged against its own baseline, with what an unjudged one means.

    ``lost``: it could not be judged (seen before the action but too little after it, too
    few points before it, or nothing matched at all), so the remedy's effect on it is
    unknown; not even a vetoing entry may pass over it. ``new``: the one exception, a series
    that appeared with the action (no point before it, enough after) in an entry whose other
    series were all there before, and no worse than the worst of them was before (a pool
    that opened); a vetoing entry does not count it. ``too_many``: the entry matched more
    than ``MAX_SERIES`` series, none judged.
    """

    name: str
    verification: Verification
    labels: Mapping[str, str] = field(default_factory=dict)
    lost: bool = False
    new: bool = False
    too_many: bool = False


def judge_each_series(
    metric: VerifyMetric,
    baseline: Mapping[str, Sequence[EvidencePoint]],
    observed: Mapping[str, Sequence[EvidencePoint]],
    judge: Callable[[Sequence[EvidencePoint], Sequence[EvidencePoint]], Verification],
    *,
    min_points: int = 5,
) -> list[SeriesJudgement]:
    """Judge every series ``metric`` matched against its own baseline, by its full name.

    An entry without labels may match several series (one per pool or instance); picking
    one would judge an arbitrary series. A series seen in one window only is inconclusive.
    Nothing matched at all is one inconclusive entry under the entry's own name, and so is
    an entry matching more than ``MAX_SERIES`` series (the evidence would outgrow what a
    workflow may carry; labels that pick fewer fix it).
    """
    found = sorted({*baseline, *observed}) or [labels_key(metric.labels)]
    if len(found) > MAX_SERIES:
        verification = Verification(
            verdict=Verdict.inconclusive,
            reason=(
                f"inconclusive: entry matches {len(found)} series, more than {MAX_SERIES}; "
                "add labels that pick fewer"
            ),
            figures={"series": float(len(found))},
        )
        name = f"{metric.metric}{{{labels_text(metric.labels)}}}"
        return [SeriesJudgement(name, verification, dict(metric.labels), too_many=True)]
    out: list[SeriesJudgement] = []
    for key in found:
        before = list(baseline.get(key, ()))
        after = list(observed.get(key, ()))
        verification = judge(before, after)
        unjudged = verification.verdict is Verdict.inconclusive and not unproven(verification)
        new = unjudged and _appeared(metric, key, baseline, after, min_points)
        labels = labels_from_key(key)
        out.append(
            SeriesJudgement(
                name=f"{metric.metric}{{{labels_text(labels)}}}",
                verification=verification,
                labels=labels,
                lost=unjudged and not new,
                new=new,
            )
        )
    return out


def _appeared(
    metric: VerifyMetric,
    key: str,
    baseline: Mapping[str, Sequence[EvidencePoint]],
    after: Sequence[EvidencePoint],
    min_points: int,
) -> bool:
    """Whether series ``key`` is a new member of an entry whose others were all known before.

    It had no point before the action and enough after; some other series of the entry had
    enough before, and its median after the action is no worse than the worst of their
    medians before. A series that appeared worse than every old one (errors of a new kind)
    is not a harmless newcomer.
    """
    if baseline.get(key) or len(after) < min_points:
        return False
    known = [
        statistics.median(p.value for p in points)
        for other, points in baseline.items()
        if other != key and len(points) >= min_points
    ]
    if not known:
        return False
    now = statistics.median(p.value for p in after)
    return now <= max(known) if metric.better == "lower" else now >= min(known)


def combine_verifications(
    judged: Sequence[SeriesJudgement],
    *,
    deciding: int = 1,
    alerting: str | None = None,
    untold: bool = False,
    alpha: float = 0.05,
) -> Verification:
    """One verdict from several named series: the first ``deciding`` decide, others veto.

    First the series' changes are corrected for their number (``vanguard.verify.holm`` at
    ``alpha``): each series tested alone would let noise on one of fifty call the whole
    worse most of the time, and roll back a remedy that worked.

    The deciding series are those of the first verify entry (several when it matched one
    series per pool or instance): any of them worse is degraded, any it could not judge is
    inconclusive, any better is improved, any better but not shown to be (``unproven``) is
    inconclusive, else unchanged. Any other series that got worse makes the whole degraded (a
    remedy that lengthens waits while it shortens the queue did not help); any other series
    it could not judge makes it inconclusive, since the remedy's effect on it is unknown (one
    only not shown to be better is no veto); a harmless newcomer (``SeriesJudgement.new``) is
    not counted and the reason says so.
    When the alerting series is one of several deciding series (``alerting``, its name), it
    must itself have improved: another pool's improvement does not end this pool's alert
    (inconclusive when it looks better but is not shown to be); and when the alert names its
    series by labels the deciding series carry but none or several of them match (``untold``),
    an improvement elsewhere is inconclusive.
    The figures and points of the worst deciding series (the alerting one among equals) are
    kept as they are, so a message shows one series' figures however many decide; the
    figures of every series but a single deciding one carry its name, so the evidence names
    each series judged. Series names come from label values, so the reason is redacted like
    any other text.
    """
    if not judged:
        return Verification(verdict=Verdict.inconclusive, reason="no series to judge by")
    corrected = holm([j.verification for j in judged], alpha=alpha)
    judged = [replace(j, verification=v) for j, v in zip(judged, corrected, strict=True)]
    deciding = max(1, min(deciding, len(judged)))
    first, rest = judged[:deciding], judged[deciding:]
    single = deciding == 1
    lead = min(
        first, key=lambda j: (_ORDER[j.verification.verdict], j.name != alerting)
    ).verification
    figures = dict(lead.figures)
    for j in rest if single else judged:
        figures.update({f"{j.name}:{key}": value for key, value in j.verification.figures.items()})
    worse = [j.name for j in judged if j.verification.verdict is Verdict.degraded]
    lost = [j.name for j in rest if j.lost]
    crowded = [j.name for j in rest if j.too_many]
    decided = _deciding_verdict([j.verification for j in first])
    alerting_verification = next((j.verification for j in first if j.name == alerting), None)
    why = _why(
        decided,
        alerting_verification,
        worse=bool(worse),
        lead_worse=single and lead.verdict is Verdict.degraded,
        unjudged=bool(lost or crowded),
        untold=untold,
    )
    verdict = _OVERRULED.get(why, decided)
    detail = _detail(
        why, worse=worse, lost=lost, crowded=crowded, alerting=alerting, deciding=deciding
    )
    head = verdict.value if detail is None else f"{verdict.value}: {detail}"
    return Verification(
        verdict=verdict,
        reason=redact_text(f"{head} ({_parts(judged, deciding)})"),
        baseline=lead.baseline,
        observed=lead.observed,
        figures=figures,
    )


class _Why(Enum):
    """What settles the combined verdict, looked for in this order: it gives the verdict
    (``_OVERRULED``) and the words after it in the reason (``_detail``).

    ``worse``: a series other than the one deciding series got worse. ``unjudged``: a
    vetoing series could not be judged or matched too many. ``untold``: the alert names its
    series by labels, but none or several deciding series match them. ``unsure`` /
    ``unhelped``: the alerting series, one of several deciding, is better but not shown to
    be / is not better. ``decided``: the deciding series' own verdict stands.
    """

    worse = auto()
    unjudged = auto()
    untold = auto()
    unsure = auto()
    unhelped = auto()
    decided = auto()


_OVERRULED = {
    _Why.worse: Verdict.degraded,
    _Why.unjudged: Verdict.inconclusive,
    _Why.untold: Verdict.inconclusive,
    _Why.unsure: Verdict.inconclusive,
    _Why.unhelped: Verdict.unchanged,
}
"""The verdict each reason gives in place of the deciding series' own."""


def _why(
    decided: Verdict,
    alerting_verification: Verification | None,
    *,
    worse: bool,
    lead_worse: bool,
    unjudged: bool,
    untold: bool,
) -> _Why:
    """What settles the verdict of ``combine_verifications``: one ladder for the verdict and
    its wording, so the two cannot disagree.

    ``decided``: the deciding series' verdict. ``alerting_verification``: the alerting
    series' own, when it is one of them. ``lead_worse``: the one deciding series is itself
    the one that got worse, so its own verdict stands.
    """
    if worse:
        return _Why.decided if lead_worse else _Why.worse
    if unjudged:
        return _Why.unjudged
    if decided is not Verdict.improved:
        return _Why.decided
    if alerting_verification is None:
        return _Why.untold if untold else _Why.decided
    if alerting_verification.verdict is Verdict.improved:
        return _Why.decided
    return _Why.unsure if unproven(alerting_verification) else _Why.unhelped


def _detail(
    why: _Why,
    *,
    worse: Sequence[str],
    lost: Sequence[str],
    crowded: Sequence[str],
    alerting: str | None,
    deciding: int,
) -> str | None:
    """What the reason says after its verdict for ``why``: why it is not the deciding
    series' own, or how many decided it; None when one series decided it alone."""
    if why is _Why.worse:
        return f"{_names(worse)} got worse"
    if why is _Why.unjudged:
        unjudged = [f"{_names(lost)} could not be judged"] if lost else []
        unjudged += [f"{_names(crowded)} matches too many series"] if crowded else []
        return "; ".join(unjudged)
    if why is _Why.untold:
        return "the alerting series is not one of the deciding series read"
    if why is _Why.unsure:
        return f"the alerting series {alerting} was not shown to improve"
    if why is _Why.unhelped:
        return f"the alerting series {alerting} did not improve"
    if deciding > 1:
        return f"decided by {deciding} series, each against its own baseline"
    return None


_ORDER = {Verdict.degraded: 0, Verdict.inconclusive: 1, Verdict.unchanged: 2, Verdict.improved: 4}
"""How bad a verdict is, worst first; a reason lists series in this order."""
_NOT_COUNTED = 3
"""Where a harmless newcomer sits in a reason: after the unchanged, before the improved."""


def _parts(judged: Sequence[SeriesJudgement], deciding: int) -> str:
    """Each series' reason, those not improved first; past ``LISTED`` the rest are counted.

    A vetoing series too new to judge says it is not counted.
    """
    ranked: list[tuple[int, Verdict, str]] = []
    for n, j in enumerate(judged):
        if j.new and n >= deciding:
            text = f"not counted, too few points before the action ({j.verification.reason})"
            ranked.append((_NOT_COUNTED, j.verification.verdict, f"{j.name}: {text}"))
        else:
            verdict = j.verification.verdict
            ranked.append((_ORDER[verdict], verdict, f"{j.name}: {j.verification.reason}"))
    ranked.sort(key=lambda item: item[0])
    shown = [text for _, _, text in ranked[:LISTED]]
    left = Counter(verdict.value for _, verdict, _ in ranked[LISTED:])
    if len(left) == 1:
        ((value, count),) = left.items()
        shown.append(f"and {count} more {value}")
    elif left:
        counts = ", ".join(f"{count} {value}" for value, count in left.items())
        shown.append(f"and {sum(left.values())} more ({counts})")
    return "; ".join(shown)


def _names(names: Sequence[str]) -> str:
    """``names`` joined, the first ``LISTED`` of them, then how many more."""
    listed = ", ".join(names[:LISTED])
    return listed + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _deciding_verdict(verifications: Sequence[Verification]) -> Verdict:
    """Worse anywhere, then unjudged anywhere, then better anywhere, then better but not
    shown to be (``unproven``) anywhere, else unchanged."""
    verdicts = [v.verdict for v in verifications if not unproven(v)]
    for verdict in (Verdict.degraded, Verdict.inconclusive, Verdict.improved):
        if verdict in verdicts:
            return verdict
    if any(unproven(v) for v in verifications):
        return Verdict.inconclusive
    return Verdict.unchanged


class Unmatched(Enum):
    """Why no series is the alert's own: ``none`` matches, or ``several`` do."""

    none = "none"
    several = "several"


def own_series(
    alert: Mapping[str, str], candidates: Mapping[K, Mapping[str, str]]
) -> K | Unmatched:
    """The key of the one candidate series that is the alert's, told by its labels.

    A candidate agrees with the alert when no label it carries has another value than the
    alert's: an alert's routing labels (``team``) are on no series, and labels a source adds
    (``instance``) are not on the alert, so neither hides the alert's series. Of the agreeing
    candidates, the alert's is the one carrying the most of the alert's labels (``pool=a``
    over an unlabelled total), and it must carry one when any candidate does (an unlabelled
    total is not pool ``b``'s series). None, or several equally specific, is no answer: a
    guess between series (another pool) is no verdict on the alerting one.
    """
    carried = {name for labels in candidates.values() for name in labels}
    told = {name: value for name, value in alert.items() if name in carried}
    shared: dict[K, int] = {
        key: sum(name in labels for name in told)
        for key, labels in candidates.items()
        if all(labels.get(name, value) == value for name, value in told.items())
    }
    most = max(shared.values(), default=0)
    found = [key for key, count in shared.items() if count == most]
    if not found or (told and most == 0):
        return Unmatched.none
    return found[0] if len(found) == 1 else Unmatched.several
