"""Retention: the DAG purge_raw_payloads, run by Airflow on a warehouse holding four school
years of landings, purges exactly the payloads past the retention period, keeps every current
record, records what it purged in ops, and purges nothing more when run again."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime

import pytest
from psycopg import sql

from eduhub import runtime, warehouse
from eduhub.landing import EntitySpec, current_versions_query, ensure_raw_table, land_partition
from eduhub.pipelines import retention
from eduhub.pipelines.population import VERIFICATIONS

LEARNERS = EntitySpec("sms_vendor_a", "learners", ("school_code", "learner_id"),
                      watermark_field=None)
RESULTS = EntitySpec("sms_vendor_a", "results", ("school_code", "learner_id", "school_year"),
                     watermark_field=None)
# class exports carry their school year as the drop folder's (`_school_year`)
FILE_LEARNERS = EntitySpec("file_exports", "learners", ("_school_code", "moet_id"),
                           watermark_field=None)
# school year 2026-2027: with 3 years kept, the cutoff is the opening day of 2024-2025 in the
# school calendar, 5 September 2024
DAY = "2026-11-22"
CUTOFF = date(2024, 9, 5)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def learner(key: str, name: str) -> dict:
    return {"school_code": "S1", "learner_id": key, "full_name": name}


def answer(fingerprint: str) -> dict:
    return {"fingerprint": fingerprint, "request": {"full_name": "Lê Văn Bình",
                                                    "personal_id": "072215012345"},
            "result": {"match": True}}


def test_cutoff_is_the_start_of_the_oldest_kept_school_year():
    """School years of the calendar: the summer, up to the next opening day (5 September by
    default), still belongs to the year that ended; the rollover moves the cutoff a year."""
    assert retention.cutoff(date(2026, 11, 22), 3) == CUTOFF
    assert retention.cutoff(date(2027, 8, 31), 3) == CUTOFF
    assert retention.cutoff(date(2027, 9, 4), 1) == date(2026, 9, 5)
    assert retention.cutoff(date(2027, 9, 5), 1) == date(2027, 9, 5)
    assert retention.cutoff(date(2027, 9, 5), 3) == date(2025, 9, 5)
    assert retention.oldest_kept_year(date(2028, 3, 1), 3).name == "2025-2026"
    with pytest.raises(ValueError):
        retention.cutoff(date(2026, 11, 22), 0)


def current_versions(conn) -> list:
    """What staging reads (macro latest_version): the current version of each key."""
    return conn.execute(sql.SQL("select natural_key, payload from ({}) as c order by 1").format(
        current_versions_query(LEARNERS.table))).fetchall()


@pytest.mark.slow
def test_purge_dag_keeps_current_records_and_records_what_it_purged(fresh_db, airflow_home):
    url = fresh_db
    with warehouse.connect(url) as conn:
        for spec in (LEARNERS, RESULTS, FILE_LEARNERS):
            ensure_raw_table(conn, spec.table)

        def land(spec, records, batch, day, partition="S1", full=True):
            land_partition(conn, spec, records, batch_id=batch, partition=partition,
                           extracted_at=at(day), full=full)

        land(LEARNERS, [learner("L1", "An"), learner("L2", "Bình"), learner("L3", "Chi")],
             "b2022", "2022-10-01")
        # L1 changed, L3 gone from the source (a deletion is landed)
        land(LEARNERS, [learner("L1", "An 2"), learner("L2", "Bình")], "b2023", "2023-10-01")
        land(LEARNERS, [learner("L4", "Dũng")], "b2024", "2024-10-01", full=False)
        land(LEARNERS, [learner("L1", "An 3"), learner("L2", "Bình"), learner("L4", "Dũng 2")],
             "b2025", "2025-10-01")
        # partitions that validation rejected: an old one and a recent one
        land(LEARNERS, [learner("L5", "Em")], "old-rejected", "2023-05-01", "S2", full=False)
        land(LEARNERS, [learner("L6", "Giang")], "new-rejected", "2026-10-01", "S2", full=False)
        conn.execute("update ops.batches set status = case partition when 'S2' then 'rejected'"
                     " else 'validated' end")
        # results: one of a school year past the period (landed recently), one kept
        land(RESULTS, [{"school_code": "S1", "learner_id": "L2", "school_year": "2022-2023"},
                       {"school_code": "S1", "learner_id": "L2", "school_year": "2024-2025"}],
             "r2025", "2025-10-01")
        # class lists of a school year past the period and of a kept one (parents' names and
        # phone numbers with them), both landed recently
        land(FILE_LEARNERS, [{"_school_code": "S3", "moet_id": "M1", "_school_year": "2022-2023",
                              "Họ tên cha": "Trần Văn Cha"}], "f2025", "2025-10-01",
             "S3/2022-2023/5A.xlsx")
        land(FILE_LEARNERS, [{"_school_code": "S3", "moet_id": "M1", "_school_year": "2025-2026",
                              "Họ tên cha": "Trần Văn Cha"}], "f2025", "2025-10-01",
             "S3/2025-2026/5A.xlsx")
        # class files of a kept school year that vanished from the drop folder: one before the
        # cutoff (its rows go), one since (its rows stay)
        for name, landed, missing in (("5C", "2024-08-20", "2024-08-25"),
                                      ("5D", "2025-10-01", "2026-10-01")):
            year = "2024-2025" if name == "5C" else "2025-2026"
            land(FILE_LEARNERS, [{"_school_code": "S3", "moet_id": f"M{name}",
                                  "_school_year": year, "Họ tên mẹ": "Nguyễn Thị Mẹ"}],
                 f"f-{name}", landed, f"S3/{year}/{name}.xlsx")
            conn.execute("insert into ops.vanished_files values ('file_exports', %s, %s)",
                         (f"S3/{year}/{name}.xlsx", at(missing)))
        # matching models: one trained before the cutoff, the newest (in use)
        for model, trained in (("m-2023", "2023-06-01"), ("m-2025", "2025-11-01")):
            conn.execute("""insert into pii.match_models values (%s, %s, '{}', 0.99, 0.5, 10,
                            'r')""", (model, at(trained)))
        # a record without its key, quarantined long ago
        land(LEARNERS, [{"school_code": "S1", "full_name": "không mã"}], "q2023", "2023-01-01",
             "S9", full=False)
        # the population database's answers: one older than the period (though current), one not
        land(VERIFICATIONS, [answer("f-old")], "p2024", "2024-03-01", "shard-0", full=False)
        land(VERIFICATIONS, [answer("f-new")], "p2025", "2025-10-01", "shard-0", full=False)
        # identity reviews: decided before the cutoff, decided since, still pending
        for key, status, decided in (("old", "accepted", "2024-01-10"),
                                     ("recent", "rejected", "2025-11-10"),
                                     ("pending", "pending", None)):
            conn.execute("""
                insert into pii.match_review_queue (review_key, person_record_key,
                    candidate_kind, candidate_key, match_probability, match_weight, evidence,
                    left_record, right_record, reason_vi, status, decided_by, decided_at,
                    run_id, queued_at)
                values (%s, %s, 'resident', 'R:1', 0.8, 3.1, '{"name": "jw"}',
                        '{"full_name": "Lê Văn Bình"}', '{"full_name": "Le Van Binh"}', 'gần',
                        %s, %s, %s, 'r', '2023-12-01')""",
                (key, f"sms_vendor_a:{key}", status, decided and "reviewer",
                 decided and at(decided)))
        before = current_versions(conn)
        assert [key for key, _ in before] == ["S1|L1", "S1|L2", "S1|L4"]
        assert conn.execute("select count(*) from raw.sms_vendor_a__learners").fetchone() == (10,)

    env = runtime.environment(url, airflow_home=airflow_home)
    run = subprocess.run([runtime.tool("airflow"), "dags", "test", "purge_raw_payloads", DAY],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    with warehouse.connect(url) as conn:
        kept = conn.execute("""
            select natural_key, batch_id, is_deleted from raw.sms_vendor_a__learners
            order by record_id""").fetchall()
        results = conn.execute("select payload ->> 'school_year' from raw.sms_vendor_a__results"
                               ).fetchall()
        class_lists = conn.execute("select partition from raw.file_exports__learners").fetchall()
        quarantined = conn.execute("select count(*) from ops.quarantine").fetchone()[0]
        recorded = conn.execute("""
            select table_name, cutoff, school_years_kept, rows_purged,
                   oldest_extracted_at::date, newest_extracted_at::date
            from ops.retention_purges order by table_name""").fetchall()
        after = current_versions(conn)
        answers = conn.execute("select natural_key from raw.population__verifications"
                               ).fetchall()
        models = conn.execute("select model_id from pii.match_models").fetchall()
        reviews = conn.execute("""
            select review_key, status, left_record = '{}' and right_record = '{}'
                and evidence = '{}' from pii.match_review_queue order by 1""").fetchall()
    # history and deletions before the cutoff, and the old rejected partition, are gone
    assert kept == [("S1|L2", "b2022", False), ("S1|L4", "b2024", False),
                    ("S1|L1", "b2025", False), ("S1|L4", "b2025", False),
                    ("S1|L6", "new-rejected", False)]
    assert after == before  # staging sees the same records
    assert results == [("2024-2025",)]
    assert sorted(class_lists) == [("S3/2025-2026/5A.xlsx",), ("S3/2025-2026/5D.xlsx",)]
    assert models == [("m-2025",)]
    assert quarantined == 0
    assert answers == [("f-new",)]  # the old answer went, though current
    # the old decision stays, without the records it was shown; the others are untouched
    assert reviews == [("old", "accepted", True), ("pending", "pending", False),
                       ("recent", "rejected", False)]
    assert recorded == [
        ("ops.quarantine", CUTOFF, 3, 1, date(2023, 1, 1), date(2023, 1, 1)),
        ("pii.match_models", CUTOFF, 3, 1, date(2023, 6, 1), date(2023, 6, 1)),
        ("pii.match_review_queue", CUTOFF, 3, 1, date(2024, 1, 10), date(2024, 1, 10)),
        ("raw.file_exports__learners", CUTOFF, 3, 2, date(2024, 8, 20), date(2025, 10, 1)),
        ("raw.population__verifications", CUTOFF, 3, 1, date(2024, 3, 1), date(2024, 3, 1)),
        ("raw.sms_vendor_a__learners", CUTOFF, 3, 5, date(2022, 10, 1), date(2023, 10, 1)),
        ("raw.sms_vendor_a__results", CUTOFF, 3, 1, date(2025, 10, 1),
         date(2025, 10, 1)),
    ]

    # again (the same day): nothing more to purge, the record of the first run unchanged
    again = retention.purge(url, "again", date(2026, 11, 22))
    assert [p.rows for p in again] == [0] * 7
    with warehouse.connect(url) as conn:
        assert conn.execute("select count(*) from raw.sms_vendor_a__learners").fetchone() == (5,)

    with warehouse.connect(url) as conn:
        dangling = conn.execute("""
            select count(*) from ops.latest_versions as h
            where h.table_name = 'sms_vendor_a__learners' and not exists (
                select 1 from raw.sms_vendor_a__learners as r where r.record_id = h.record_id)
            """).fetchone()[0]
        # the purged record sent again lands again: landing compares with what raw still holds
        relanded = land_partition(conn, LEARNERS, [learner("L5", "Em")], batch_id="back",
                                  partition="S2", extracted_at=at("2026-11-20"), full=False)
    assert dangling == 0
    assert relanded.landed == 1
