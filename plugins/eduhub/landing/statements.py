"""The bookkeeping statements of a landing in `ops`: batches, source counts, watermarks,
quarantine, and the tombstones of withdrawn keys."""

from __future__ import annotations

from psycopg import sql

# whether records of the partition wait in quarantine
QUARANTINE_OPEN = """
    select exists (select 1 from ops.quarantine where source = %(source)s
                   and entity = %(entity)s and partition = %(partition)s
                   and resolved_at is null)"""


# the table's next record id, or null when the table does not exist yet
NEXT_RECORD_ID = """
    select case when to_regclass(%(t)s) is not null
                then nextval(pg_get_serial_sequence(%(t)s, 'record_id')) end"""


# the watermarks the validated or accepted partitions of a batch reached (`high_water` of
# ops.batches): never before, so a rejected batch, or one whose validation never ran, is
# read again from the watermark before it
ADVANCE_WATERMARKS = """
    insert into ops.watermarks (source, entity, partition, high_water, batch_id, updated_at)
    select source, entity, partition, high_water, batch_id, clock_timestamp()
    from ops.batches
    where batch_id = %(batch)s and source = %(source)s and entity = %(entity)s
        and status in ('validated', 'accepted') and high_water is not null
    on conflict (source, entity, partition) do update set
        high_water = greatest(ops.watermarks.high_water, excluded.high_water),
        batch_id = excluded.batch_id, updated_at = excluded.updated_at"""


SOURCE_COUNTS = """
    insert into ops.source_counts (source, entity, batch_id, partition, mode, reported_total,
                                   received, distinct_keys, current_keys, difference,
                                   held_deletions, checked_at)
    values (%(source)s, %(entity)s, %(batch)s, %(partition)s, %(mode)s, %(total)s,
            %(received)s, %(distinct)s, %(current)s, %(difference)s, %(held)s,
            clock_timestamp())
    on conflict (source, entity, batch_id, partition) do update set
        mode = excluded.mode, reported_total = excluded.reported_total,
        received = excluded.received, distinct_keys = excluded.distinct_keys,
        current_keys = excluded.current_keys, difference = excluded.difference,
        held_deletions = excluded.held_deletions, checked_at = excluded.checked_at"""


RECORD_BATCH = """
    insert into ops.batches (batch_id, source, entity, partition, mode, status, received,
                             landed, quarantined, deleted, extracted_at, finished_at,
                             first_record_id, last_record_id, high_water)
    values (%(batch)s, %(source)s, %(entity)s, %(partition)s, %(mode)s, 'landed', %(received)s,
            %(landed)s, %(quarantined)s, %(deleted)s, %(at)s, clock_timestamp(), %(first_id)s,
            %(last_id)s, %(mark)s)
    on conflict (batch_id, source, entity, partition) do update set
        -- landed again (a retry, a cleared task): pending until validated again
        status = excluded.status, mode = excluded.mode, received = excluded.received,
        high_water = greatest(ops.batches.high_water, excluded.high_water),
        landed = ops.batches.landed + excluded.landed,
        quarantined = ops.batches.quarantined + excluded.quarantined,
        deleted = ops.batches.deleted + excluded.deleted,
        finished_at = excluded.finished_at,
        first_record_id = least(ops.batches.first_record_id, excluded.first_record_id),
        last_record_id = greatest(ops.batches.last_record_id, excluded.last_record_id)"""


def quarantine(conn, bad, params) -> list:
    """Quarantined records, each once per partition: cursors telling whether each is new."""
    return [conn.execute("""
        insert into ops.quarantine (source, entity, partition, reason, raw_text, raw_hash,
            first_batch_id, last_batch_id, first_seen, last_seen)
        values (%(source)s, %(entity)s, %(partition)s, %(reason)s, %(text)s, %(hash)s,
                %(batch)s, %(batch)s, %(at)s, %(at)s)
        on conflict (source, entity, partition, raw_hash) do update set
            last_batch_id = excluded.last_batch_id, last_seen = excluded.last_seen,
            times_seen = ops.quarantine.times_seen
                + (ops.quarantine.last_batch_id <> excluded.last_batch_id)::int,
            resolved_at = null, resolved_by_batch = null, resolution = null
        returning (xmax = 0) as inserted""",
        {**params, "reason": reason, "text": text, "hash": digest})
        for reason, text, digest in bad]


def resolve_quarantine(conn, bad, params) -> None:
    """A quarantined record is resolved when a full read of its partition no longer serves it
    (a record that cannot land has no key to be superseded by)."""
    conn.execute("""
        update ops.quarantine set resolved_at = clock_timestamp(),
            resolved_by_batch = %(batch)s, resolution = 'no longer served by the source'
        where source = %(source)s and entity = %(entity)s and partition = %(partition)s
          and resolved_at is null and not (raw_hash = any(%(hashes)s))""",
        {**params, "hashes": [digest for _reason, _text, digest in bad]})


def tombstone(conn, name: str, tombstones: dict[int, int], params: dict) -> None:
    """Keys whose latest version in this partition is live but which a full read of it no
    longer lists: a tombstone (the last payload again, flagged) records that the partition
    withdrew the key. `tombstones`: the record id of each key's last version, and of its
    tombstone."""
    if not tombstones:
        return
    conn.execute(sql.SQL("""
        insert into {t} (record_id, natural_key, payload, payload_hash, batch_id, partition,
                         extracted_at, is_deleted)
        overriding system value
        select v.record_id, r.natural_key, r.payload, r.payload_hash, %(batch)s,
               %(partition)s, %(at)s, true
        from unnest(%(last)s::bigint[], %(ids)s::bigint[]) as v (last_id, record_id)
        join {t} as r on r.record_id = v.last_id
        order by v.record_id""").format(t=sql.Identifier("raw", name)),
        {**params, "last": list(tombstones), "ids": list(tombstones.values())}, prepare=False)
