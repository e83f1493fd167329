"""Landing into raw through COPY: idempotent, versioned, bookkept in ops, nothing dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from psycopg import sql

from eduhub import migrations, warehouse
from eduhub.landing import (
    EntitySpec,
    current_versions_query,
    detect_drift,
    get_watermark,
    land_partition,
    read_since,
)
from eduhub.validation import mark_partitions

AT = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
SPEC = EntitySpec("test_src", "things", ("id",), frozenset({"id", "v", "updated_at"}))


def _land(url, records, batch="b1", partition="p1", full=True, total=None, spec=SPEC,
          accept_deletions=False):
    with warehouse.connect(url) as conn:
        return land_partition(conn, spec, records, batch_id=batch, partition=partition,
                              extracted_at=AT, full=full, reported_total=total,
                              accept_deletions=accept_deletions)


def _rows(url):
    with warehouse.connect(url) as conn:
        return conn.execute("select natural_key, payload, batch_id, is_deleted "
                            "from raw.test_src__things order by record_id").fetchall()


def _current(url, spec=SPEC, validated_only=False):
    """What the keys currently are (the staging macro latest_version): as landed (nothing here
    is validated), or as staging reads them."""
    with warehouse.connect(url) as conn:
        return dict(conn.execute(sql.SQL("select natural_key, payload from ({}) as c").format(
            current_versions_query(spec.table, validated_only=validated_only))).fetchall())


def _validate(url, batch, rejected=(), spec=SPEC):
    """The outcome of a validation of the batch: the partitions `rejected`, the others passed."""
    mark_partitions(url, batch, spec.source, spec.entity, {p: ["a test's"] for p in rejected},
                    suite="test")


def _rec(i, v=0, at="2026-11-01T08:00:00+07:00"):
    return {"id": str(i), "v": v, "updated_at": at}


def test_lands_payload_unchanged_with_metadata(fresh_db):
    record = {"id": "1", "ten": "Nguyễn Thị Hà", "nested": {"a": [1, 2]}, "n": None}
    result = _land(fresh_db, [record])
    assert (result.received, result.landed, result.quarantined) == (1, 1, 0)
    with warehouse.connect(fresh_db) as conn:
        row = conn.execute("select natural_key, payload, payload_hash, batch_id, partition, "
                           "extracted_at from raw.test_src__things").fetchone()
    assert row[0] == "1" and row[1] == record and len(row[2]) == 64
    assert row[3:] == ("b1", "p1", AT)


def test_composite_natural_key(fresh_db):
    spec = EntitySpec("test_src", "things", ("school", "id"))
    _land(fresh_db, [{"school": "S1", "id": "7"}, {"school": "S2", "id": "7"}], spec=spec)
    assert sorted(r[0] for r in _rows(fresh_db)) == ["S1|7", "S2|7"]


def test_rerun_and_unchanged_records_add_nothing(fresh_db):
    records = [_rec(i, i) for i in range(100)]
    assert _land(fresh_db, records).landed == 100
    assert _land(fresh_db, records).landed == 0  # same batch again
    assert _land(fresh_db, records, batch="b2").landed == 0  # next day, nothing changed
    assert len(_rows(fresh_db)) == 100


def test_changed_record_adds_a_version(fresh_db):
    _land(fresh_db, [_rec(1, 1), _rec(2, 2)])
    assert _land(fresh_db, [_rec(1, 10), _rec(2, 2)], batch="b2").landed == 1
    # changing back to an earlier payload is a change too
    assert _land(fresh_db, [_rec(1, 1)], batch="b3", full=False).landed == 1
    assert [(k, p["v"], b) for k, p, b, _ in _rows(fresh_db)] == [
        ("1", 1, "b1"), ("2", 2, "b1"), ("1", 10, "b2"), ("1", 1, "b3")]


def test_full_refresh_marks_keys_the_source_no_longer_lists(fresh_db):
    _land(fresh_db, [_rec(1), _rec(2), _rec(3)])
    assert _land(fresh_db, [_rec(1)], batch="b2", full=False).deleted == 0  # incremental: no
    result = _land(fresh_db, [_rec(1), _rec(3)], batch="b3")
    assert result.deleted == 1
    assert [(k, d) for k, _, b, d in _rows(fresh_db) if b == "b3"] == [("2", True)]
    assert _land(fresh_db, [_rec(1), _rec(3)], batch="b4").deleted == 0  # already marked
    assert _land(fresh_db, [_rec(1), _rec(2), _rec(3)], batch="b5").landed == 1  # back again


def test_a_key_moving_to_another_partition_stays_current_there(fresh_db):
    spec = EntitySpec("test_src", "things", ("id",))
    _land(fresh_db, [{"id": "1", "school": "A"}, {"id": "2", "school": "A"}], partition="A",
          spec=spec)
    _land(fresh_db, [{"id": "1", "school": "B"}], partition="B", spec=spec, batch="b2")
    assert _current(fresh_db) == {"1": {"id": "1", "school": "B"}, "2": {"id": "2", "school": "A"}}
    # A's full read no longer lists 1: A withdraws its version, B's stays current
    assert _land(fresh_db, [{"id": "2", "school": "A"}], partition="A", spec=spec,
                 batch="b3").deleted == 1
    assert _current(fresh_db) == {"1": {"id": "1", "school": "B"}, "2": {"id": "2", "school": "A"}}
    # and when B withdraws it too, the key is gone
    assert _land(fresh_db, [], partition="B", spec=spec, batch="b4").deleted == 1
    assert _current(fresh_db) == {"2": {"id": "2", "school": "A"}}
    with warehouse.connect(fresh_db) as conn:
        counts = conn.execute("select batch_id, partition, current_keys from ops.source_counts "
                              "order by batch_id").fetchall()
    assert counts == [("b1", "A", 2), ("b2", "B", 1), ("b3", "A", 1), ("b4", "B", 0)]


def test_a_key_two_partitions_serve_differently_lands_once_in_each(fresh_db):
    # a learner two schools list, each with its own record: every daily run compares each
    # school with what it served itself, so nothing lands again, in turn, day after day
    spec = EntitySpec("test_src", "things", ("id",))
    for batch in ("b1", "b2", "b3"):
        landed = [_land(fresh_db, [{"id": "1", "school": p}], partition=p, spec=spec,
                        batch=batch).landed for p in ("A", "B")]
        assert landed == ([1, 1] if batch == "b1" else [0, 0])
    assert len(_rows(fresh_db)) == 2
    # the key is what the partition that landed it last served
    assert _current(fresh_db) == {"1": {"id": "1", "school": "B"}}
    _land(fresh_db, [{"id": "1", "school": "A", "grade": 7}], partition="A", spec=spec,
          batch="b4")
    assert _current(fresh_db) == {"1": {"id": "1", "school": "A", "grade": 7}}


def test_a_record_two_partitions_list_is_a_version_of_each(fresh_db):
    spec = EntitySpec("test_src", "things", ("id",))
    for batch in ("b1", "b2", "b3"):  # daily runs: the two partitions, one after the other
        landed = [_land(fresh_db, [{"id": "1"}, {"id": p}], partition=p, spec=spec,
                        batch=batch).landed for p in ("A", "B")]
        assert landed == ([2, 2] if batch == "b1" else [0, 0])
    with warehouse.connect(fresh_db) as conn:
        heads = conn.execute("select partition, natural_key, is_deleted from ops.latest_versions"
                             " order by 1, 2").fetchall()
    assert heads == [("A", "1", False), ("A", "A", False), ("B", "1", False), ("B", "B", False)]
    assert _current(fresh_db) == {"1": {"id": "1"}, "A": {"id": "A"}, "B": {"id": "B"}}


def test_malformed_records_are_quarantined_not_dropped(fresh_db):
    result = _land(fresh_db, [_rec(1), {"v": "no key"}, ["not", "an", "object"], {"id": " "}])
    assert (result.received, result.landed, result.quarantined) == (4, 1, 3)
    with warehouse.connect(fresh_db) as conn:
        quarantined = conn.execute(
            "select reason, raw_text from ops.quarantine order by quarantine_id").fetchall()
    assert [q[1] for q in quarantined] == ['{"v":"no key"}', '["not","an","object"]', '{"id":" "}']
    assert "record 1 of partition p1 has no natural key (missing id)" == quarantined[0][0]
    assert "not a JSON object" in quarantined[1][0]
    # re-running the batch quarantines nothing twice
    assert _land(fresh_db, [{"v": "no key"}], full=False).quarantined == 0


def test_a_key_served_twice_in_one_read_lands_its_later_record(fresh_db):
    records = [_rec(1, 1), _rec(2), _rec(2), {"x": 0}, _rec(1, 2)]
    result = _land(fresh_db, records, total=5)
    # the same record twice is one version; the same key with another payload: the later lands
    assert (result.received, result.landed, result.quarantined) == (5, 2, 2)
    with warehouse.connect(fresh_db) as conn:
        reasons = [r for (r,) in conn.execute("select reason from ops.quarantine "
                                              "order by quarantine_id")]
        difference = conn.execute("select difference from ops.source_counts").fetchone()[0]
    assert reasons[1] == ("record 0 of partition p1 has the natural key of record 4 and "
                          "another payload: the later one landed")
    # reported 5 = 2 current keys + 2 quarantined + 1: the identical repeat shows as a difference
    assert difference == 1
    assert [(k, p["v"]) for k, p, _, _ in _rows(fresh_db)] == [("2", 0), ("1", 2)]
    # landing the same read again, in this batch or the next, adds nothing
    assert (_land(fresh_db, records).landed, _land(fresh_db, records, batch="b2").landed) == (0, 0)


def test_nul_characters_are_quarantined(fresh_db):
    # PostgreSQL stores no NUL in text or JSONB: such records wait in quarantine, the rest land
    records = [_rec(1), {"id": "2", "v": "a\x00b"}, {"id": "3\x00"}, {"id": "4", "v": "\\u0000"}]
    result = _land(fresh_db, records)
    assert (result.landed, result.quarantined) == (2, 2)
    with warehouse.connect(fresh_db) as conn:
        reasons = [r for (r,) in conn.execute("select reason from ops.quarantine "
                                              "order by quarantine_id")]
    assert reasons == [
        "record 2 of partition p1 has a NUL character in its natural key, which PostgreSQL "
        "cannot store",
        "record 1 of partition p1 has a NUL character in a value, which PostgreSQL's JSONB "
        "cannot store"]
    assert sorted(p["id"] for _, p, _, _ in _rows(fresh_db)) == ["1", "4"]
    assert _land(fresh_db, records, batch="b2").quarantined == 0  # seen again, not new


def test_quarantined_record_no_longer_served_is_resolved(fresh_db):
    _land(fresh_db, [_rec(1), {"v": "bad"}])
    _land(fresh_db, [_rec(1), {"v": "bad"}], batch="b2")
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select times_seen, resolved_at from ops.quarantine").fetchone() == (
            2, None)
    _land(fresh_db, [_rec(1), _rec(2)], batch="b3")  # the source fixed it
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select resolution, resolved_by_batch from ops.quarantine"
                            ).fetchone() == ("no longer served by the source", "b3")


def test_schema_drift_is_recorded_and_the_load_goes_on(fresh_db):
    records = [{"id": "1", "v": 1, "updated_at": "x"},
               {"id": "2", "value": 2, "updated_at": "x", "extra": True}]
    result = _land(fresh_db, records)
    assert result.landed == 2
    assert {(f.change, f.field, f.renamed_to, f.records_affected) for f in result.drift} == {
        ("renamed_field", "v", "value", 1), ("new_field", "extra", None, 1)}
    with warehouse.connect(fresh_db) as conn:
        drift = conn.execute("select change, field, renamed_to from ops.schema_drift "
                             "order by field").fetchall()
    assert drift == [("new_field", "extra", None), ("renamed_field", "v", "value")]


def test_detect_drift_missing_field():
    findings = detect_drift([{"id": "1"}], frozenset({"id", "v"}))
    assert [(f.change, f.field) for f in findings] == [("missing_field", "v")]


def test_watermark_advances_with_the_validated_landing(fresh_db):
    assert _land(fresh_db, [_rec(1, at="2026-11-01T08:00:00+07:00"),
                            _rec(2, at="2026-11-03T08:00:00+07:00")]).watermark \
        == "2026-11-03T08:00:00+07:00"
    with warehouse.connect(fresh_db) as conn:
        assert get_watermark(conn, SPEC, "p1") is None  # not before the batch passed
    _validate(fresh_db, "b1")
    _land(fresh_db, [_rec(1, at="2026-10-01T08:00:00+07:00")], batch="b2", full=False)
    _validate(fresh_db, "b2")
    with warehouse.connect(fresh_db) as conn:
        assert get_watermark(conn, SPEC, "p1") == "2026-11-03T08:00:00+07:00"  # never goes back
        assert get_watermark(conn, SPEC, "other") is None


def test_a_rejected_batch_drops_the_watermark_and_its_records_land_again(fresh_db):
    _land(fresh_db, [_rec(1, at="2026-11-01T08:00:00+07:00")])
    _validate(fresh_db, "b1")
    changed = [_rec(1, v="x", at="2026-11-02T08:00:00+07:00"),
               _rec(2, at="2026-11-03T08:00:00+07:00")]
    _land(fresh_db, changed, batch="b2", full=False)
    _validate(fresh_db, "b2", rejected=["p1"])
    with warehouse.connect(fresh_db) as conn:
        assert get_watermark(conn, SPEC, "p1") is None  # the next read is a full one
    assert _current(fresh_db, validated_only=True) == {"1": _rec(1, at="2026-11-01T08:00:00+07:00")}
    # the same records read again (the source was right after all): they land again, in the
    # new batch, to be validated again; the rejected batch's versions are not the baseline
    assert _land(fresh_db, changed, batch="b3").landed == 2
    assert _current(fresh_db, validated_only=True) == {"1": _rec(1, at="2026-11-01T08:00:00+07:00")}
    _validate(fresh_db, "b3")
    assert _current(fresh_db, validated_only=True) == {r["id"]: r for r in changed}
    with warehouse.connect(fresh_db) as conn:
        assert get_watermark(conn, SPEC, "p1") == "2026-11-03T08:00:00+07:00"
    # landed again under its own batch id (a cleared task): pending, out of staging
    assert _land(fresh_db, [_rec(1, v="y")], batch="b3", full=False).landed == 1
    assert _current(fresh_db, validated_only=True) == {"1": _rec(1, at="2026-11-01T08:00:00+07:00")}
    _validate(fresh_db, "b3")
    assert _current(fresh_db, validated_only=True) == {"1": _rec(1, v="y"), "2": changed[1]}


def test_an_incremental_read_starts_an_overlap_before_the_watermark(fresh_db, monkeypatch):
    _land(fresh_db, [_rec(1, at="2026-11-03T08:00:00+07:00")])
    _validate(fresh_db, "b1")
    with warehouse.connect(fresh_db) as conn:
        assert read_since(conn, SPEC, "p1") == "2026-11-03T07:00:00+07:00"  # 60 minutes
        monkeypatch.setenv("EDUHUB_WATERMARK_OVERLAP_MINUTES", "5")
        assert read_since(conn, SPEC, "p1") == "2026-11-03T07:55:00+07:00"
        assert read_since(conn, SPEC, "other") is None  # no watermark: a full read
    # what the overlap reads again, unchanged, lands nothing
    assert _land(fresh_db, [_rec(1, at="2026-11-03T08:00:00+07:00")], batch="b2",
                 full=False).landed == 0


def test_a_stamp_from_the_future_does_not_freeze_the_incremental_sync(fresh_db):
    # a record stamped 2099 (a wrong clock): the watermark stops at the extraction time, so
    # tomorrow's changes, stamped tomorrow, are still after it
    result = _land(fresh_db, [_rec(1, at="2026-11-19T08:00:00+07:00"),
                              _rec(2, at="2099-01-01T00:00:00+07:00")])
    assert result.watermark == AT.astimezone(timezone(timedelta(hours=7))).isoformat()
    assert result.landed == 2  # the record itself lands; GX and the models judge its stamp
    _validate(fresh_db, "b1")
    with warehouse.connect(fresh_db) as conn:
        assert get_watermark(conn, SPEC, "p1") == "2026-11-20T08:00:00+07:00"


def test_a_full_read_withdraws_a_few_keys_but_holds_a_mass_withdrawal(fresh_db):
    _land(fresh_db, [_rec(i) for i in range(200)])
    # 5 of 200 gone (within the 5% and the few always allowed): withdrawn
    few = _land(fresh_db, [_rec(i) for i in range(195)], batch="b2")
    assert (few.deleted, few.held_deletions) == (5, 0)
    # half gone at once (a short read?): none withdrawn, all held
    half = _land(fresh_db, [_rec(i) for i in range(95)], batch="b3")
    assert (half.deleted, half.held_deletions) == (0, 100)
    assert len(_current(fresh_db)) == 195
    # the operator checked with the source
    accepted = _land(fresh_db, [_rec(i) for i in range(95)], batch="b4", accept_deletions=True)
    assert (accepted.deleted, accepted.held_deletions) == (100, 0)
    assert len(_current(fresh_db)) == 95


def test_records_that_cannot_be_stored_are_quarantined_and_the_rest_lands(fresh_db,
                                                                         monkeypatch):
    """A lone surrogate, nesting deeper than JSON can be written, a record past the size cap:
    each quarantined with its reason and text; the partition's other records land."""
    from eduhub.landing import records

    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 10_000)
    deep: dict = {"leaf": 1}
    for _ in range(5000):
        deep = {"n": deep}
    poison = [{**_rec(1), "v": "tên \ud800 lỗi"}, {**_rec(2), "v": deep},
              {**_rec(3), "v": "x" * 20_000}]
    result = _land(fresh_db, [_rec(0), *poison, _rec(4)])
    assert (result.received, result.landed, result.quarantined) == (5, 2, 3)
    assert set(_current(fresh_db)) == {"0", "4"}
    with warehouse.connect(fresh_db) as conn:
        kept = conn.execute("select reason, raw_text from ops.quarantine order by reason"
                            ).fetchall()
    reasons = [r for r, _ in kept]
    assert any("not valid Unicode" in r and "record 1 " in r for r in reasons)
    assert any("nested too deeply" in r and "record 2 " in r for r in reasons)
    assert any("more than the 10000 a record may hold" in r and "record 3 " in r
               for r in reasons)
    assert all(text for _, text in kept)
    again = _land(fresh_db, [_rec(0), *poison, _rec(4)], batch="b2")  # idempotent
    assert (again.landed, again.quarantined) == (0, 0)


def test_source_counts_and_batch_bookkeeping(fresh_db):
    _land(fresh_db, [_rec(1), _rec(2), {"x": 1}], total=4)
    with warehouse.connect(fresh_db) as conn:
        counts = conn.execute("select reported_total, received, distinct_keys, current_keys, "
                              "difference from ops.source_counts").fetchone()
        batch = conn.execute("select mode, status, received, landed, quarantined from ops.batches"
                             ).fetchone()
    assert counts == (4, 3, 2, 2, 1)  # one record the source reported never arrived
    assert batch == ("full", "landed", 3, 2, 1)


def test_values_that_copy_escapes_land_exactly(fresh_db):
    # COPY's text format is built by landing: backslashes, tabs, line ends and quotes, in keys
    # and in values, must come out as they went in, and land once
    record = {"id": "a\\b\tc\nd\re", "ten": "Nguyễn \"Bé\" \\ \t tab\nnew line\r 😀 \u2028",
              "path": "C:\\\\drops\\lớp 1A.xlsx", "n": 1.5, "big": 10**20}
    first = _land(fresh_db, [record])
    again = _land(fresh_db, [record], batch="b2")
    with warehouse.connect(fresh_db) as conn:
        rows = conn.execute("select natural_key, payload from raw.test_src__things").fetchall()
    assert (first.landed, again.landed) == (1, 0)
    assert rows == [("a\\b\tc\nd\re", record)]


def test_a_raw_table_dropped_and_landed_again_starts_afresh(fresh_db):
    records = [_rec(i, i) for i in range(5)]
    _land(fresh_db, records)
    with warehouse.connect(fresh_db) as conn:
        conn.execute("drop table raw.test_src__things")  # an engineer reloads the entity
    assert _land(fresh_db, records, batch="b2").landed == 5
    assert _land(fresh_db, records, batch="b3").landed == 0
    assert len(_rows(fresh_db)) == 5


def test_latest_versions_of_the_earlier_layout_are_kept(fresh_db):
    # before 2026-12-02, ops.latest_versions was a table: one row per key; the baseline
    # migration adopts such a warehouse
    _land(fresh_db, [_rec(i, i) for i in range(3)])
    _land(fresh_db, [_rec(0, 0), _rec(1, 1)], batch="b2")  # 2 withdrawn
    with warehouse.connect(fresh_db) as conn:
        before = conn.execute("select * from ops.latest_versions order by natural_key").fetchall()
        conn.execute("""
            create table ops.latest_versions_old as select * from ops.latest_versions;
            drop view ops.latest_versions;
            delete from ops.partition_versions;
            alter table ops.latest_versions_old rename to latest_versions;
            alter table ops.latest_versions add primary key (table_name, natural_key);
            drop table ops.alembic_version""")
    migrations.upgrade(fresh_db)
    assert _land(fresh_db, [_rec(0, 0), _rec(1, 1)], batch="b3").landed == 0  # nothing lost
    with warehouse.connect(fresh_db) as conn:
        after = conn.execute("select * from ops.latest_versions order by natural_key").fetchall()
        kind = conn.execute("select relkind from pg_class "
                            "where oid = 'ops.latest_versions'::regclass").fetchone()[0]
    assert kind == "v" and after == before
    assert [(k, d) for k, _, _, d in _rows(fresh_db)] == [
        ("0", False), ("1", False), ("2", False), ("2", True)]


def test_the_latest_versions_are_never_read_by_a_prepared_statement(fresh_db):
    # psycopg prepares a statement run five times on a connection; a generic plan made while
    # ops.latest_versions was small would scan every partition's versions on each landing
    with warehouse.connect(fresh_db) as conn:
        conn.execute("analyze ops.latest_versions")
        for p in range(8):
            land_partition(conn, SPEC, [_rec(f"{p}-{i}") for i in range(3)], batch_id="b1",
                           partition=f"p{p}", extracted_at=AT)
            land_partition(conn, SPEC, [_rec(f"{p}-{i}") for i in range(2)], batch_id="b2",
                           partition=f"p{p}", extracted_at=AT)
        prepared = [s for (s,) in conn.execute("select statement from pg_prepared_statements")]
    assert prepared  # the bookkeeping's statements are prepared
    assert not [s for s in prepared if "select versions from ops.partition_versions" in s]


def test_a_batch_row_holds_the_record_ids_the_batch_gave(fresh_db):
    # validation reads a batch by this range, through the raw table's primary key
    _land(fresh_db, [_rec(i) for i in range(4)], partition="A")
    _land(fresh_db, [_rec(9)], partition="B")
    _land(fresh_db, [_rec(0, 1), _rec(1)], partition="A", batch="b2")  # 0 changed, 2 and 3 gone
    _land(fresh_db, [_rec(0, 1), _rec(1), _rec(5)], partition="A", batch="b2")  # a retry: +5
    _land(fresh_db, [_rec(9)], partition="B", batch="b2")  # unchanged: no id given
    with warehouse.connect(fresh_db) as conn:
        ranges = conn.execute("select batch_id, partition, first_record_id, last_record_id "
                              "from ops.batches order by 1, 2").fetchall()
        ids = conn.execute("select batch_id, partition, array_agg(record_id order by record_id) "
                           "from raw.test_src__things group by 1, 2 order by 1, 2").fetchall()
    assert [(b, p, r[0], r[-1]) for b, p, r in ids] == [r for r in ranges if r[2] is not None]
    assert ("b2", "B", None, None) in ranges
    assert ids[2][2] == list(range(ids[2][2][0], ids[2][2][0] + 4))  # version, 2 tombstones, 5
