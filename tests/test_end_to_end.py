"""The slice through every layer, run by Airflow: sandbox → raw → GX → dbt (cosmos) → mart."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import dags_test, is_id_shaped

from eduhub import runtime, settings, warehouse
from eduhub_sandbox.simulators.sms_vendor_a import VendorA

pytestmark = pytest.mark.slow


def _day(env, logical_date):
    """The school sync and the transformation of a day (`airflow dags test`, in order)."""
    dags_test(env, [("sync_school_management", logical_date),
                    ("transform_warehouse", logical_date)])


def _vendor_a_truth(ground_truth):
    codes = {s["school_code"] for s in ground_truth["schools"] if s["vendor"] == "sms_vendor_a"}
    return codes, [VendorA.learner_view(x) for x in ground_truth["learners"]
                   if x["school_code"] in codes]


def _snapshot(url):
    with warehouse.connect(url) as conn:
        return {
            "raw": conn.execute("select natural_key, payload_hash, record_id from "
                                "raw.sms_vendor_a__learners order by record_id").fetchall(),
            "mart": conn.execute("select * from marts.school_learner_id_coverage "
                                 "order by school_code").fetchall(),
        }


@pytest.fixture(scope="module")
def first_run(airflow_env, warehouse_url):
    _day(airflow_env, "2026-11-20")
    return _snapshot(warehouse_url)


def test_raw_holds_exactly_the_generated_learners(first_run, warehouse_url, ground_truth):
    _codes, expected = _vendor_a_truth(ground_truth)
    with warehouse.connect(warehouse_url) as conn:
        landed = conn.execute("select natural_key, payload from raw.sms_vendor_a__learners"
                              ).fetchall()
        quarantined = conn.execute("select count(*) from ops.quarantine").fetchone()[0]
    assert len(landed) == len(expected)
    assert {k: p for k, p in landed} == {f"{x['school_code']}|{x['learner_id']}": x
                                         for x in expected}
    assert quarantined == 0


def test_batch_was_validated(first_run, warehouse_url):
    with warehouse.connect(warehouse_url) as conn:
        rows = conn.execute("""
            select count(*), count(*) filter (where severity = 'critical' and not success)
            from quality.validation_results where suite = 'sms_vendor_a__learners'""").fetchone()
    assert rows[0] > 0 and rows[1] == 0


def test_mart_matches_the_ground_truth(first_run, ground_truth):
    codes, expected = _vendor_a_truth(ground_truth)
    by_school = {c: [0, 0] for c in codes}
    for x in expected:
        by_school[x["school_code"]][0] += 1
        # an ID of 12 digits (a malformed one is not an ID the population database knows)
        by_school[x["school_code"]][1] += is_id_shaped(x["national_id"])
    mart = {row[0]: (row[5], row[6], row[7]) for row in first_run["mart"]}
    assert set(mart) == codes
    for code, (total, with_id) in by_school.items():
        share = round(with_id / total, 4) if total else None
        assert mart[code][:2] == (total, with_id)
        assert (float(mart[code][2]) if mart[code][2] is not None else None) == share


def test_second_run_changes_nothing(first_run, airflow_env, warehouse_url):
    _day(airflow_env, "2026-11-21")
    assert _snapshot(warehouse_url) == first_run


def test_dbt_build_passes_with_its_unit_tests(first_run, airflow_env):
    """The whole project as a developer builds it: dbt's unit tests too, which the scheduled
    build leaves out (transform.SCHEDULED_BUILD_FLAGS). They run here, once per suite."""
    runtime.run(runtime.dbt_args(["build"]), airflow_env)
    target = settings.DBT_PROJECT_DIR / airflow_env.get("DBT_TARGET_PATH", "target")
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    unit_tests = {r["unique_id"]: r["status"] for r in results
                  if r["unique_id"].startswith("unit_test.")}
    declared = sum(len(m.get("unit_tests") or []) for path in
                   (settings.DBT_PROJECT_DIR / "models").rglob("*.yml")
                   for m in [yaml.safe_load(path.read_text(encoding="utf-8")) or {}])
    assert len(unit_tests) == declared > 0
    assert set(unit_tests.values()) == {"pass"}


def test_dbt_docs_generate_describes_every_mart_column(first_run, airflow_env, tmp_path):
    # into a folder of its own: the manifest cosmos renders from stays as it is
    runtime.run(runtime.dbt_args(["docs", "generate", "--target-path", str(tmp_path)]),
                airflow_env)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((tmp_path / "catalog.json").read_text(encoding="utf-8"))
    marts = {node_id: node for node_id, node in manifest["nodes"].items()
             if node["resource_type"] == "model" and node["schema"] == "marts"}
    assert len(marts) >= 10 and set(marts) <= set(catalog["nodes"])
    undescribed = sorted(
        f"{node['name']}.{column}" for node_id, node in marts.items()
        for column in catalog["nodes"][node_id]["columns"]
        if not (node["columns"].get(column) or {}).get("description", "").strip())
    assert undescribed == []
