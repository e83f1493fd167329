"""Landing into raw through COPY: idempotent, versioned by payload, nothing dropped."""

from __future__ import annotations

from datetime import UTC, datetime

from eduhub import warehouse
from eduhub.landing import land_records

AT = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def _land(url, records, batch="b1", partition="p1"):
    with warehouse.connect(url) as conn:
        return land_records(conn, source="test_src", entity="things", key_field="id",
                            records=records, batch_id=batch, partition=partition, extracted_at=AT)


def _rows(url):
    with warehouse.connect(url) as conn:
        return conn.execute(
            "select natural_key, payload, batch_id from raw.test_src__things order by record_id"
        ).fetchall()


def test_lands_payload_unchanged_with_metadata(fresh_db):
    record = {"id": "1", "ten": "Nguyễn Thị Hà", "nested": {"a": [1, 2]}, "n": None}
    result = _land(fresh_db, [record])
    assert (result.received, result.landed, result.quarantined) == (1, 1, 0)
    with warehouse.connect(fresh_db) as conn:
        row = conn.execute("select natural_key, payload, payload_hash, batch_id, partition, "
                           "extracted_at from raw.test_src__things").fetchone()
    assert row[0] == "1" and row[1] == record and len(row[2]) == 64
    assert row[3:] == ("b1", "p1", AT)


def test_rerun_and_unchanged_records_add_nothing(fresh_db):
    records = [{"id": str(i), "v": i} for i in range(100)]
    assert _land(fresh_db, records).landed == 100
    assert _land(fresh_db, records).landed == 0  # same batch again
    assert _land(fresh_db, records, batch="b2").landed == 0  # next day, nothing changed
    assert len(_rows(fresh_db)) == 100


def test_changed_record_adds_a_version(fresh_db):
    _land(fresh_db, [{"id": "1", "v": 1}, {"id": "2", "v": 2}])
    assert _land(fresh_db, [{"id": "1", "v": 10}, {"id": "2", "v": 2}], batch="b2").landed == 1
    # changing back to an earlier payload is a change too
    assert _land(fresh_db, [{"id": "1", "v": 1}], batch="b3").landed == 1
    assert [(k, p["v"], b) for k, p, b in _rows(fresh_db)] == [
        ("1", 1, "b1"), ("2", 2, "b1"), ("1", 10, "b2"), ("1", 1, "b3")]


def test_malformed_records_are_quarantined_not_dropped(fresh_db):
    result = _land(fresh_db, [{"id": "1"}, {"v": "no key"}, ["not", "an", "object"], {"id": " "}])
    assert (result.received, result.landed, result.quarantined) == (4, 1, 3)
    with warehouse.connect(fresh_db) as conn:
        quarantined = conn.execute(
            "select reason, raw_text from ops.quarantine order by quarantine_id").fetchall()
    assert [q[1] for q in quarantined] == ['{"v":"no key"}', '["not","an","object"]', '{"id":" "}']
    assert "no natural key 'id'" in quarantined[0][0] and "record 1" in quarantined[0][0]
    assert "not a JSON object" in quarantined[1][0]
    # re-running the batch quarantines nothing twice
    assert _land(fresh_db, [{"v": "no key"}]).quarantined == 0


def test_batch_is_recorded_in_ops(fresh_db):
    _land(fresh_db, [{"id": "1"}, {"x": 1}])
    with warehouse.connect(fresh_db) as conn:
        batch = conn.execute("select status, received, landed, quarantined from ops.batches "
                             "where batch_id = 'b1'").fetchone()
    assert batch == ("landed", 2, 1, 1)
