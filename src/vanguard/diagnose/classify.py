"""Name the kind of a CI failure from the lines that explain it.

Pure: the explaining lines weigh double, the last lines of the log (where runners report
timeouts, cancellations and lost connections) count once. The category with the most
weight wins; ties go to the one listed first in the taxonomy. No match gives the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from vanguard.diagnose.taxonomy import Taxonomy

__all__ = ["Classification", "classify"]

EXPLAINING_WEIGHT = 2.0
CONTEXT_WEIGHT = 1.0


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
    for category in taxonomy.categories:
        score = 0.0
        hits: list[str] = []
        for indication in category.indications:
            pattern = indication.compiled()
            if any(pattern.search(text) for text in explaining):
                score += indication.weight * EXPLAINING_WEIGHT
                hits.append(indication.pattern)
            elif any(pattern.search(text) for text in context):
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
