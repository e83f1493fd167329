"""Landing: records go into `raw` unchanged, with load metadata, through COPY. Idempotent.

Each source entity has its own table `raw.<source>__<entity>`, all of one shape: natural
key, JSONB payload, payload hash, batch id, partition, extraction time, deletion flag.
A partition (a school, a commune, a file) is a stream of versions of its own: a record is
added only when its payload differs from the latest version its partition landed of its key,
so re-running a batch, or receiving an unchanged record again, adds no row. The latest version
each partition landed of each key (its record, hash and deletion flag) is kept in
`ops.partition_versions`, one document per partition (the view `ops.latest_versions` shows a
row per key): a landing reads one row and writes one, rather than looking up the growing raw
table or keeping a per-key index up to date.

A key listed by two partitions (a learner two schools list, one that moved between schools)
therefore has a version in each; what the key currently is, is the latest version of those
whose partition still lists it (the staging macro `latest_version`, `current_versions_query`):
a partition that stops listing a key withdraws only its own version. Each partition then
compares with what it served itself, so two partitions serving one key differently do not
land it anew, in turn, on every run.

One partition lands in one transaction, together with its bookkeeping in `ops`: the batch row,
quarantined records, schema drift, the source's reported total against what landed, tombstones
of keys the source no longer lists (full refresh only) and the watermark the read reached. A
killed task therefore leaves nothing half-done, and its retry starts from the same watermark.
Fail closed: the watermark moves (`ops.watermarks`) only once validation passed the batch or
an operator accepted it, so the records of a batch that was rejected, or whose validation
never ran, are read again; what a later read compares with leaves rejected batches out
(`rebaseline`), so that they land again and are validated again.

The package, by seam: `records` (keys, canonical JSON, what cannot land), `versions` (the
partitions' latest versions, the raw tables, the current-version rule), `binary_copy` (the new
versions into the raw table), `drift`, `statements` (the bookkeeping in `ops`) and
`partition` (one partition landed, in one transaction).
"""

from eduhub.landing.drift import DriftFinding, detect_drift
from eduhub.landing.partition import LandingResult, get_watermark, land_partition, read_since
from eduhub.landing.records import (
    KEY_SEPARATOR,
    EntitySpec,
    canonical_json,
    canonical_json_bytes,
    payload_hash,
    raw_table_name,
)
from eduhub.landing.versions import (
    current_versions_query,
    ensure_raw_table,
    rebaseline,
    rebuild_latest_versions,
)

__all__ = [
    "KEY_SEPARATOR", "DriftFinding", "EntitySpec", "LandingResult", "canonical_json",
    "canonical_json_bytes", "current_versions_query", "detect_drift", "ensure_raw_table",
    "get_watermark", "land_partition", "payload_hash", "raw_table_name", "read_since",
    "rebaseline", "rebuild_latest_versions",
]
