"""Name the kind of a CI failure from the lines that explain it.

Pure: the explaining lines weigh double, the last lines of the log (where runners report
timeouts, cancellations and lost connections) count once. The category with the most
weight wins; ties go to the one listed first in the taxonomy. No match gives the fallback.

A category that would be retried silently (retryable, not reported) needs evidence outside
test code: a connection error inside a test's own report, or to a service on the runner's
own host, is the system under test failing, not the network between the runner and the world.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from vanguard.diagnose.taxonomy import Taxonomy

__all__ = ["Classification", "classify"]

EXPLAINING_WEIGHT = 2.0
CONTEXT_WEIGHT = 1.0
_TEST_REPORT = re.compile(
    r"^\s*E\s{2,}\S|^\s*(?:FAILED|ERROR)\s+\S+::\S|^\s*(?:not ok|--- FAIL)\b"
    r"|^\s*\d+\) \S|^\s*File \"[^\"]*\btests?[/_\\]"
    r"|^\s*\S+_test\.go:\d+:(?:\s|$)|^ *\t(?:[A-Z][\w ]*: *| +)\t"
    r"|\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])\b"
)
"""Lines of a test's own failure report, or about the runner's own host.

Go's are the test's messages (``limiter_test.go:58: ...``, from ``t.Error``) and testify's
label column under them (``Error:``, ``Messages:`` and their continuation lines)."""


class Classification(BaseModel):
    """A category, how sure, and which indications matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str
    confidence: float = Field(ge=0.0, le=1.0)
    indications: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


def classify(
    explaining: Sequence[str], context: Sequence[str], taxonomy: Taxonomy
) -> Classification:
    """Classify a failure from its explaining lines and the tail of its log."""
    best_id = taxonomy.fallback
    best_score = 0.0
    best_hits: list[str] = []
    outside_explaining = [text for text in explaining if not _TEST_REPORT.search(text)]
    outside_context = [text for text in context if not _TEST_REPORT.search(text)]
    for category in taxonomy.categories:
        score = 0.0
        hits: list[str] = []
        silent = category.retryable and not category.report
        lines = outside_explaining if silent else explaining
        tail = outside_context if silent else context
        for indication in category.indications:
            pattern = indication.compiled()
            if any(pattern.search(text) for text in lines):
                score += indication.weight * EXPLAINING_WEIGHT
                hits.append(indication.pattern)
            elif any(pattern.search(text) for text in tail):
                score += indication.weight * CONTEXT_WEIGHT
                hits.append(indication.pattern)
        if score > best_score:
            best_id, best_score, best_hits = category.id, score, hits
    if best_score == 0.0:
        return Classification(
            category=taxonomy.fallback,
            confidence=0.0,
            reasons=("no indication of any category matched",),
        )
    confidence = best_score / (best_score + 2.0)
    return Classification(
        category=best_id,
        confidence=round(confidence, 4),
        indications=tuple(best_hits),
        reasons=(f"{best_id}: {len(best_hits)} indication(s), weight {best_score:g}",),
    )
