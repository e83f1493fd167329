"""How the transformation's one dbt task reports each node (the live day runs it for real)."""

from __future__ import annotations

from eduhub import transform


def test_each_node_is_named_as_an_operator_reads_it():
    results = {"results": [
        {"unique_id": "model.eduhub.int_learners", "status": "success", "execution_time": 1.234,
         "failures": None},
        {"unique_id": "test.eduhub.not_null_int_learners_learner_key.5c9f1a2b3c",
         "status": "fail", "execution_time": 0.1, "failures": 3},
        {"unique_id": "unit_test.eduhub.int_learners.keeps_the_latest", "status": "pass",
         "execution_time": None, "failures": 0},
    ]}
    assert transform.node_results(results) == [
        {"node": "model int_learners", "status": "success", "seconds": 1.23, "failures": None},
        {"node": "test not_null_int_learners_learner_key", "status": "fail", "seconds": 0.1,
         "failures": 3},
        {"node": "unit_test int_learners.keeps_the_latest", "status": "pass", "seconds": 0,
         "failures": 0},
    ]
