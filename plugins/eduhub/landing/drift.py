"""Schema drift: fields a batch's records add, lose or rename against the entity's contract."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True)
class DriftFinding:
    change: str  # new_field | missing_field | renamed_field
    field: str
    records_affected: int
    renamed_to: str | None = None


def detect_drift(records: list[dict], expected: frozenset[str]) -> list[DriftFinding]:
    """Fields that appeared, disappeared or were renamed, against the entity's contract."""
    if not expected or not records:
        return []
    # Records of a batch share a handful of shapes (sets of field names): the comparisons run
    # on the shapes, once each, not on every record. (Field names in the order served are
    # cheaper to count than sets; each distinct order becomes a set once.)
    shapes: Counter[frozenset[str]] = Counter()
    for order, n in Counter(map(tuple, records)).items():
        shapes[frozenset(order)] += n
    present = Counter()
    for shape, n in shapes.items():
        for name in shape:
            present[name] += n
    new_fields = sorted(set(present) - expected)
    findings: list[DriftFinding] = []
    renamed_new: set[str] = set()
    for old in sorted(expected):
        lacking = {shape for shape in shapes if old not in shape}
        if not lacking:
            continue
        # A renamed field: the records that lack the old name are exactly those with a new
        # one. Among several, prefer values of the same JSON type, then the closer name.
        candidates = [new for new in new_fields if new not in renamed_new and
                      {shape for shape in shapes if new in shape} == lacking]
        if len(candidates) > 1:
            old_types = {type(r[old]) for r in records if r.get(old) is not None}

            def likeness(new: str, old=old, old_types=old_types) -> tuple[bool, float]:
                new_types = {type(r[new]) for r in records if r.get(new) is not None}
                return (bool(new_types & old_types), SequenceMatcher(None, old, new).ratio())

            candidates = [max(candidates, key=likeness)]
        affected = sum(shapes[shape] for shape in lacking)
        if candidates:
            renamed_new.add(candidates[0])
            findings.append(DriftFinding("renamed_field", old, affected,
                                         renamed_to=candidates[0]))
        else:
            findings.append(DriftFinding("missing_field", old, affected))
    for new in new_fields:
        if new not in renamed_new:
            findings.append(DriftFinding("new_field", new, present[new]))
    return findings


def record_drift(conn, drift, params) -> None:
    for finding in drift:
        conn.execute("""
            insert into ops.schema_drift (source, entity, batch_id, partition, change, field,
                renamed_to, records_affected, detected_at)
            values (%(source)s, %(entity)s, %(batch)s, %(partition)s, %(change)s, %(field)s,
                    %(renamed_to)s, %(n)s, clock_timestamp())
            on conflict (source, entity, batch_id, partition, change, field) do update set
                renamed_to = excluded.renamed_to, records_affected = excluded.records_affected""",
            {**params, "change": finding.change, "field": finding.field,
             "renamed_to": finding.renamed_to, "n": finding.records_affected})
