"""Great Expectations on a landed batch, pushed down to PostgreSQL, results kept in `quality`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eduhub import validation, warehouse
from eduhub.landing import land_partition
from eduhub.sandbox.server import VendorA
from eduhub.sources.vendor_a import LEARNERS


def _land(url, records, batch):
    with warehouse.connect(url) as conn:
        land_partition(conn, LEARNERS, records, batch_id=batch, partition="p",
                       extracted_at=datetime(2026, 11, 20, tzinfo=UTC))


def test_clean_batch_passes_and_is_recorded(fresh_db, ground_truth):
    records = [VendorA.learner_view(x) for x in ground_truth["learners"][:300]]
    _land(fresh_db, records, "clean")
    result = validation.validate_batch("sms_vendor_a__learners", fresh_db, "clean")
    assert result.critical_failures == []
    validation.raise_on_critical(result)
    with warehouse.connect(fresh_db) as conn:
        rows = conn.execute("select count(*), bool_and(element_count = 300) from "
                            "quality.validation_results where batch_id = 'clean'").fetchone()
    suite = validation.load_suite_definition("sms_vendor_a__learners")
    assert rows == (len(suite["expectations"]), True)


def test_bad_values_fail_the_expectations_meant_for_them(fresh_db, ground_truth):
    records = [VendorA.learner_view(x) for x in ground_truth["learners"][:50]]
    records[0] = {**records[0], "gender": "X"}
    records[1] = {**records[1], "birth_date": "12/03/2015"}
    records[2] = {**records[2], "national_id": "12345"}
    _land(fresh_db, records, "bad")
    result = validation.validate_batch("sms_vendor_a__learners", fresh_db, "bad")
    failed = {(o.expectation_type, o.column, o.severity, o.unexpected_count)
              for o in result.outcomes if not o.success}
    assert failed == {
        ("expect_column_values_to_be_in_set", "gender", "critical", 1),
        ("expect_column_values_to_match_regex", "birth_date", "critical", 1),
        ("expect_column_values_to_match_regex", "national_id", "warning", 1),
    }
    with pytest.raises(validation.CriticalExpectationFailed) as err:
        validation.raise_on_critical(result)
    assert "expect_column_values_to_be_in_set(gender): 1 of 50 rows unexpected" in str(err.value)
