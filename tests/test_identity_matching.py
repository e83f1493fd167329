"""Identity against the sandbox ground truth, at demo scale, on real PostgreSQL and dbt.

The world: the session's sandbox province (conftest: 1,500 learners) served by the real
simulators, landed with the pipeline functions the DAG tasks call (vendors A and B, PCGD-XMC,
the xlsx file drops), verified against the population simulator, modelled with dbt
(`dbt build --select +path:models/intermediate/identity`), then matched (person.build) and the
identity models tested. Served records map back to sandbox keys through the MOET ID.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import is_id_shaped, land_registry, validate_landed

from eduhub import migrations, runtime, transform, warehouse
from eduhub.identity import person, personal_id
from eduhub.identity.personal_id import DEFECT_FINDINGS, MESSAGES
from eduhub.pipelines import file_exports as file_exports_pipeline
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import population as pv
from eduhub.pipelines import school_management
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.population import PopulationClient
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub_sandbox.simulators import file_exports as exports

pytestmark = pytest.mark.slow

TEST_KEY = "identity-test-key-0123456789abcdef"  # a test key only; deployments set their own
TYPO_DEFECTS = ("name_typo", "name_accents_dropped", "wrong_birth_date")


def _base(e) -> str:
    return f"{e.scheme}://{e.host}:{e.port}{e.base_path}"


def dbt(env: dict, *args: str) -> None:
    runtime.run(runtime.dbt_args([*args, "--quiet"]), env)


@pytest.fixture(scope="module")
def world(sandbox_dir, ground_truth, simulators, server_url, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv(person.PSEUDONYM_KEY_ENV, TEST_KEY)
    url = warehouse.create_database("eduhub_identity", server_url, replace=True)
    migrations.upgrade(url)
    drops = tmp_path_factory.mktemp("identity_drops")
    exports.write_class_exports(ground_truth, drops, seed=exports.manifest_seed(sandbox_dir))
    a, b = simulators["sms_vendor_a"], simulators["sms_vendor_b"]
    makers = {"sms_vendor_a": lambda: VendorAClient(_base(a), a.login, a.password),
              "sms_vendor_b": lambda: VendorBClient(_base(b), b.password)}
    for vendor, make in makers.items():
        for code in school_management.land_schools(vendor, make(), url, "identity-1"):
            school_management.land_school(vendor, make(), url, "identity-1", code)
    p = simulators["pcgd"]
    pcgd = PcgdClient(_base(p), p.password)
    for code in pcgd_pipeline.commune_codes(pcgd):
        pcgd_pipeline.land_commune(pcgd, url, "identity-1", code)
    land_registry(url, "identity-1", simulators)
    file_exports_pipeline.land_file_drops(drops, url, "identity-1")
    validate_landed(url, "identity-1", [*makers, "pcgd", "file_exports"])
    transform.ensure_raw_tables(url)
    env = runtime.environment(url)
    env[person.PSEUDONYM_KEY_ENV] = TEST_KEY
    runtime.ensure_dbt_manifest(env)
    select = ["--select", "+path:models/intermediate/identity", "stg_pcgd__residents"]
    dbt(env, "build", *select, "--exclude-resource-type", "test")
    v = simulators["population"]
    pv.verify_shard(PopulationClient(_base(v), v.password), url, "identity-1", 0, 1)
    validate_landed(url, "identity-1", ["population"])
    first = person.build(url, "identity-1")
    second = person.build(url, "identity-2")
    dbt(env, "build", "--select", "path:models/intermediate/identity")
    manifest = json.loads((Path(sandbox_dir) / "manifest.json").read_text())
    return {"url": url, "env": env, "data": ground_truth, "manifest": manifest,
            "first": first, "second": second}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def query(world, sql: str, params=()) -> list[tuple]:
    with warehouse.connect(world["url"]) as conn:
        return conn.execute(sql, params).fetchall()


def learner_of(world) -> dict[str, dict]:
    """Warehouse record key (source:role:school|moet) -> the sandbox learner."""
    by_moet = {x["moet_id"]: x for x in world["data"]["learners"]}
    keys = [r[0] for r in query(world, "select person_record_key from "
                                "intermediate.int_identity_verifications where person_role = 'learner'")]
    return {k: by_moet[k.split("|")[-1]] for k in keys}


def injected(world, kind: str, entity: str = "learner") -> dict[str, dict]:
    return {d["record"]: d for d in world["manifest"]["defects"]
            if d["defect"] == kind and d["entity"] == entity}


def test_id_findings_of_the_model_are_the_library_s(world):
    """The dbt macro and the Python library give the same findings on every record."""
    rows = query(world, """
        select v.person_record_key, v.personal_id, v.date_of_birth, v.sex,
               coalesce(array_agg(f.finding_code order by f.finding_code)
                        filter (where f.finding_code is not null), '{}')
        from intermediate.int_identity_verifications as v
        left join intermediate.int_identity_id_findings as f
            on f.person_record_key = v.person_record_key
        group by 1, 2, 3, 4""")
    assert len(rows) > 1500
    for key, pid, dob, sex, codes in rows:
        assert sorted(codes) == sorted(personal_id.check(pid, dob, sex).codes), key
    messages = query(world, "select distinct finding_code, severity, message_vi "
                     "from intermediate.int_identity_id_findings")
    for code, severity, message in messages:
        assert (severity, message) == MESSAGES[code]


def test_every_injected_id_defect_is_reported_by_the_model(world):
    learners = learner_of(world)
    findings: dict[str, set[str]] = {}
    for key, code in query(world, "select person_record_key, finding_code from "
                           "intermediate.int_identity_id_findings where severity = 'error'"):
        findings.setdefault(learners[key]["learner_key"] if key in learners else key,
                            set()).add(code)
    for kind, code in DEFECT_FINDINGS.items():
        expected = set(injected(world, kind))
        assert expected, kind
        assert {k for k, codes in findings.items() if code in codes and k in expected} == expected
    # no valid ID is reported: every learner record with an error finding is an injected
    # ID defect, or borrowed an ID that contradicts its own birth year or sex
    explained = set().union(*(injected(world, k) for k in DEFECT_FINDINGS),
                            injected(world, "shared_personal_id"))
    learner_keys = {x["learner_key"] for x in learners.values()}
    assert {k for k in findings if k in learner_keys} <= explained


def test_verification_status_per_record(world):
    learners = learner_of(world)
    registry = {p["personal_id"]: p for p in world["data"]["registry"]}
    rows = query(world, """select person_record_key, verification_status, mismatched_fields
                           from intermediate.int_identity_verifications
                           where person_role = 'learner'""")
    for key, status, fields in rows:
        x = learners[key]
        if not (is_id_shaped(x["personal_id"])
                and x["date_of_birth"] and x["sex"]):
            assert status == "not_verifiable", key
            continue
        truth = registry.get(x["personal_id"])
        if truth is None:
            assert (status, fields) == ("not_found", []), key
        else:
            wrong = [f for f in ("full_name", "date_of_birth", "sex") if truth[f] != x[f]]
            assert (status, fields) == ("mismatch" if wrong else "match", wrong), key


def test_links_for_name_and_date_typos_are_precise_and_complete(world):
    """Precision over every accepted probabilistic link, recall over the injected typos; every
    typo not linked is in the review queue or the unmatched list."""
    learners = learner_of(world)
    links = query(world, """select person_record_key, resident_id, link_method
                            from pii.person_records""")
    accepted = {k: r for k, r, m in links if m in ("probabilistic", "reviewed") and r}
    assert accepted
    correct = {k for k, r in accepted.items()
               if k in learners and r == "R" + learners[k]["person_key"]}
    precision = len(correct) / len(accepted)
    typos = {k for k, x in learners.items()
             if any(x["learner_key"] in injected(world, d) for d in TYPO_DEFECTS)}
    assert len(typos) >= 20
    recall = len(typos & correct) / len(typos)
    assert precision >= 0.99, (precision, sorted(set(accepted) - correct))
    assert recall >= 0.95, recall
    queued = {r[0] for r in query(world, "select person_record_key from pii.match_review_queue "
                                  "where status = 'pending'")}
    unmatched = {k for k, _, m in links if m == "unmatched"}
    assert typos - correct <= queued | unmatched


def test_every_record_needing_a_match_is_linked_queued_or_unmatched(world):
    rows = query(world, """
        select v.person_record_key, r.link_method, r.reason_vi,
               exists (select 1 from pii.match_review_queue as q
                       where q.person_record_key = v.person_record_key
                         and q.status = 'pending') as queued
        from intermediate.int_identity_verifications as v
        join pii.person_records as r on r.person_record_key = v.person_record_key
        where v.needs_matching""")
    assert rows
    for key, method, reason, queued in rows:
        assert method in ("probabilistic", "reviewed", "unmatched"), key
        assert reason
        if method == "unmatched" and queued:
            assert "rà soát" in reason


def test_review_queue_shows_both_records_and_the_evidence(world):
    rows = query(world, """select left_record, right_record, evidence, match_probability,
                                  reason_vi from pii.match_review_queue""")
    assert rows, "the shared IDs of the sandbox land in the review queue at least"
    for left, right, evidence, probability, reason in rows:
        assert left["full_name"] and right["full_name"]
        assert {"full_name", "date_of_birth", "sex", "commune_code", "personal_id"} <= set(evidence)
        assert 0.5 <= probability < 0.99 or "nhiều ứng viên" in reason or "hai số" in reason


def test_shared_ids_found_exactly(world):
    learners = learner_of(world)
    present = {x["learner_key"] for x in learners.values()}
    expected = set()
    for d in injected(world, "shared_personal_id").values():
        if d["shared_with"] in present:
            expected |= {d["record"], d["shared_with"]}
    assert expected
    rows = query(world, "select person_record_key, people_on_id, id_pseudonym "
                 "from intermediate.int_identity_shared_ids")
    assert {learners[k]["learner_key"] for k, _, _ in rows} == expected
    assert all(people == 2 and re.fullmatch(r"[0-9a-f]{64}", p) for _, people, p in rows)


def test_duplicate_enrolments_found_exactly(world):
    learners = learner_of(world)
    expected = set()
    for d in injected(world, "duplicate_enrolment").values():
        expected |= {d["record"], d["duplicate_of"]}
    assert expected
    rows = query(world, "select person_record_key, person_id from "
                 "intermediate.int_identity_duplicate_enrolments")
    assert {learners[k]["learner_key"] for k, _ in rows} == expected
    # each duplicate pair is one person
    people = Counter(p for _, p in rows)
    assert set(people.values()) == {2}


def test_person_table_links_records_registry_and_pcgd(world):
    learners = learner_of(world)
    rows = query(world, """select r.person_record_key, r.person_id, p.resident_id,
                                  p.registry_status
                           from pii.person_records as r join pii.persons as p using (person_id)
                           where r.link_method <> 'unmatched'""")
    truth_people = {}
    for key, person_id, resident, _status in rows:
        if key in learners:
            x = learners[key]
            truth_people.setdefault(x["person_key"], set()).add(person_id)
            missing_from_pcgd = x["learner_key"] in injected(world, "enrolled_missing_from_pcgd")
            if not missing_from_pcgd:
                assert resident == "R" + x["person_key"], key
    # one real person, one person row
    assert all(len(ids) == 1 for ids in truth_people.values())
    assert world["first"].persons == len(query(world, "select 1 from intermediate.int_persons"))


def test_pseudonyms_are_keyed_and_no_plain_id_reaches_analysts(world):
    pid, pseudo = query(world, "select personal_id, id_pseudonym from vault.personal_ids "
                        "order by person_id limit 1")[0]
    assert pseudo == person.pseudonym(pid, TEST_KEY.encode())
    assert pseudo != hashlib.sha256(pid.encode()).hexdigest()  # not a plain hash
    columns = {r[0] for r in query(world, """
        select column_name from information_schema.columns where table_schema = 'intermediate'
        and table_name in ('int_persons', 'int_identity_shared_ids',
                           'int_identity_duplicate_enrolments', 'int_identity_review_queue')""")}
    assert not columns & {"personal_id", "full_name", "date_of_birth"}
    with pytest.raises(RuntimeError):
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv(person.PSEUDONYM_KEY_ENV, raising=False)
            person.pseudonym_key()


def test_second_run_is_incremental_and_stable(world):
    first, second = world["first"], world["second"]
    assert first.trained and not second.trained  # the stored model is reused
    assert first.to_match > 50 and second.to_match == 0
    assert second.persons == first.persons and second.accepted == first.accepted
    models = query(world, "select accept_probability, review_probability, splink_model "
                   "from pii.match_models")
    assert len(models) == 1
    assert models[0][0] == 0.99 and models[0][1] == 0.5
    assert models[0][2]["comparisons"]


def test_a_changed_record_is_matched_again(world):
    """A record edited at its source (here: its stored input hash) is re-scored, alone."""
    key = query(world, "select person_record_key from pii.person_records "
                "where link_method = 'probabilistic' order by 1 limit 1")[0][0]
    with warehouse.connect(world["url"]) as conn:
        conn.execute("update pii.person_records set input_hash = 'changed' "
                     "where person_record_key = %s", (key,))
    again = person.build(world["url"], "identity-3")
    assert again.to_match == 1 and again.accepted == world["first"].accepted


def test_a_reviewer_decision_is_applied_with_its_reason(world):
    key, kind, cand = query(world, "select person_record_key, candidate_kind, candidate_key "
                            "from pii.match_review_queue where status = 'pending' "
                            "and candidate_kind = 'resident' order by 1 limit 1")[0]
    with warehouse.connect(world["url"]) as conn:
        conn.execute("""update pii.match_review_queue set status = 'accepted',
                        decided_by = 'test', decided_at = now(),
                        decision_reason = 'Đã đối chiếu giấy khai sinh'
                        where person_record_key = %s and candidate_key = %s""", (key, cand))
        conn.execute("update pii.person_records set input_hash = 'changed' "
                     "where person_record_key = %s", (key,))
    person.build(world["url"], "identity-4")
    method, resident, reason = query(world, "select link_method, resident_id, reason_vi from "
                                     "pii.person_records where person_record_key = %s", (key,))[0]
    assert (method, resident) == ("reviewed", cand)
    assert "Đã đối chiếu giấy khai sinh" in reason


def test_dag_runs_the_matching_through_airflow(world, airflow_home):
    """`airflow dags test match_identities` on the same warehouse: a full re-match from the
    stored model gives the same persons; the key comes from the environment, never a log."""
    import subprocess

    env = runtime.environment(world["url"], airflow_home=airflow_home)
    env[person.PSEUDONYM_KEY_ENV] = TEST_KEY
    before = dict(query(world, "select person_record_key, person_id from pii.person_records"))
    proc = subprocess.run([runtime.tool("airflow"), "dags", "test", "match_identities",
                           "2026-12-06", "--conf", '{"full_refresh": true}'],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert TEST_KEY not in output
    ids = [r[0] for r in query(world, "select personal_id from vault.personal_ids")]
    assert not any(pid in output for pid in ids)
    runs = {r[0] for r in query(world, "select distinct run_id from pii.person_records")}
    assert len(runs) == 1 and runs.pop().startswith("manual__")
    after = dict(query(world, "select person_record_key, person_id from pii.person_records"))
    assert after == before
