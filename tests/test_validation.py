"""Great Expectations on landed batches, against the simulators, pushed down to PostgreSQL.

A clean batch of every source passes every suite; each kind of hostile fault (a renamed field,
malformed values, a truncated page, a duplicated natural key) fails the expectation meant for
it and no other critical one, rejects only the partitions holding it, and leaves the batch
landed. Outcomes are queryable in `quality`; Data Docs are written.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from conftest import is_id_shaped, land_registry
from psycopg import sql

from eduhub import migrations, runtime, settings, validation, warehouse
from eduhub.landing import current_versions_query, land_partition
from eduhub.pipelines import file_exports as file_exports_pipeline
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import school_management
from eduhub.pipelines.population import VERIFICATIONS, fingerprint
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.population import PopulationClient
from eduhub.sources.sms_vendor_a import PER_SCHOOL as PER_SCHOOL_A
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub.validation import offline_docs
from eduhub.validation.suites import load_suite
from eduhub_sandbox import faults
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports

AS_OF = date(2026, 11, 20)
# hostile's persistent faults only: the transient ones (retried by the clients) only cost time
PERSISTENT_ONLY = ("hostile:share_5xx=0,share_429=0,share_timeout=0,share_slow=0,"
                   "share_malformed_page=0")
FAULT_SEED = 5


def base_url(endpoint) -> str:
    return f"{endpoint.scheme}://{endpoint.host}:{endpoint.port}{endpoint.base_path}"


def client_a(endpoints, cls=VendorAClient, **kw):
    e = endpoints["sms_vendor_a"]
    return cls(base_url(e), e.login, e.password, **kw)


def client_b(endpoints, cls=VendorBClient, **kw):
    return cls(base_url(endpoints["sms_vendor_b"]), endpoints["sms_vendor_b"].password, **kw)


def client_pcgd(endpoints, cls=PcgdClient, **kw):
    return cls(base_url(endpoints["pcgd"]), endpoints["pcgd"].password, **kw)


def land_vendor(vendor, client, url, batch, entities=None) -> list[str]:
    """A vendor's school list and the entities of every school, as the DAG's tasks do."""
    codes = school_management.land_schools(vendor, client, url, batch)
    for code in codes:
        if entities is None:
            school_management.land_school(vendor, client, url, batch, code)
        else:
            spec_by_entity = school_management.SOURCES[vendor][1]
            for entity in entities:
                with warehouse.connect(url) as conn:
                    listing = client.school_listing(entity, code)
                    land_partition(conn, spec_by_entity[entity], listing.records,
                                   batch_id=batch, partition=code,
                                   extracted_at=datetime.now(UTC), reported_total=listing.total)
    return codes


def critical(result) -> set:
    return result.failed("critical")


@pytest.fixture(autouse=True)
def data_docs(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "DATA_DOCS_DIR", tmp_path / "data_docs")
    return tmp_path / "data_docs"


# --- a clean batch ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clean(simulators, ground_truth, server_url, tmp_path_factory):
    """Every source landed once from the fault-free simulators, in one batch."""
    url = warehouse.create_database("eduhub_validation_clean", server_url, replace=True)
    migrations.upgrade(url)
    land_vendor("sms_vendor_a", client_a(simulators), url, "clean")
    land_vendor("sms_vendor_b", client_b(simulators), url, "clean")
    pcgd = client_pcgd(simulators)
    for commune in pcgd_pipeline.commune_codes(pcgd):
        pcgd_pipeline.land_commune(pcgd, url, "clean", commune)
    drops = tmp_path_factory.mktemp("drops")
    exports.write_class_exports(ground_truth, drops, seed=7)
    land_registry(url, "clean", simulators)
    file_exports_pipeline.land_file_drops(drops, url, "clean")
    # the population service's answers for some registered persons, as verify_shard lands them
    persons = [{"personal_id": p["personal_id"], "full_name": p["full_name"],
                "date_of_birth": p["date_of_birth"], "sex": p["sex"]}
               for p in ground_truth["registry"][:150]]
    e = simulators["population"]
    population = PopulationClient(base_url(e), e.password)
    for number, (asked, answers) in enumerate(population.verify(persons), start=1):
        with warehouse.connect(url) as conn:
            land_partition(conn, VERIFICATIONS, [
                {"fingerprint": fingerprint(q), "request": q, "result": a}
                for q, a in zip(asked, answers, strict=True)],
                batch_id="clean", partition=f"shard-0-{number}",
                extracted_at=datetime.now(UTC), full=False)
    return url


# The sandbox's one record-level defect a landing suite sees: IDs whose leading 0 was lost
# (`id_leading_zero_lost`), a warning of the ID's shape; the records land, and the models
# report them (DUNG_ID_FORMAT).
ID_SHAPE = {"sms_vendor_a": "expect_column_values_to_match_regex(national_id)",
            "sms_vendor_b": "expect_column_values_to_match_regex(so_dinh_danh)"}


def malformed_ids(ground_truth) -> Counter:
    """Learners served with an ID that is not 12 digits, per vendor."""
    vendor = {s["school_code"]: s["vendor"] for s in ground_truth["schools"]}
    return Counter(vendor[x["school_code"]] for x in ground_truth["learners"]
                   if x["personal_id"] and not is_id_shaped(x["personal_id"]))


def test_clean_batch_passes_every_suite_but_the_records_own_defects(clean, data_docs,
                                                                    ground_truth):
    # the registry was validated when it landed (before the class exports are checked against
    # it), as sync_school_management does: the others now
    registry = "school_registry__units"
    results = validation.validate_sources(clean, "clean", [
        "sms_vendor_a", "sms_vendor_b", "file_exports", "pcgd", "population"], as_of=AS_OF)
    assert {r.suite for r in results} | {registry} == set(validation.landing_suites())
    assert len(results) == 19
    malformed = malformed_ids(ground_truth)
    assert malformed and set(malformed) <= set(ID_SHAPE)
    for result in results:
        assert result.outcomes, result.suite  # every source landed something
        vendor = result.suite.removesuffix("__learners")
        expected = {ID_SHAPE[vendor]: ("warning", malformed[vendor])} if malformed[vendor] \
            and result.suite.endswith("__learners") else {}
        assert {o.name: (o.severity, o.unexpected_count) for o in result.outcomes
                if not o.success} == expected, result.suite
        assert result.rejected_partitions == ()
    validation.raise_on_critical(results)
    with warehouse.connect(clean) as conn:
        recorded = conn.execute("""
            select suite, count(*), bool_and(success), max(element_count)
            from quality.validation_results where batch_id = 'clean' group by suite""").fetchall()
        statuses = conn.execute("select distinct status from ops.batches "
                                "where batch_id = 'clean'").fetchall()
    assert {s: n for s, n, _, _ in recorded} == {
        **{r.suite: len(r.outcomes) for r in results},
        registry: len(load_suite(registry).expectations)}  # each suite once
    assert {s for s, _, ok, _ in recorded if not ok} == {
        f"{vendor}__learners" for vendor in malformed}
    # on day 0 no health check has happened yet: every other entity has rows
    assert {s for s, _, _, rows in recorded if not rows} <= {
        "sms_vendor_a__health", "sms_vendor_b__health"}
    assert statuses == [("validated",)]
    # Data Docs: an index and a page per suite and view
    assert (data_docs / "index.html").exists()
    # validations/<suite>[/<view>]/<batch>/<time>/<page>.html
    pages = {".".join(p.relative_to(data_docs / "validations").parts[:-3])
             for p in (data_docs / "validations").rglob("*.html")}
    assert {"sms_vendor_a__learners", "sms_vendor_a__learners.source_counts",
            "pcgd__households.residents", "population__verifications"} <= pages
    # the pages hold counts, never the values of personal fields
    page = next((data_docs / "validations" / "sms_vendor_a__learners" / "clean").rglob("*.html"))
    assert "must never be null" in page.read_text()
    # they load nothing from the internet: GX's CDN scripts, styles, fonts and logos are the
    # site's own copies, present where each page looks for them (the dashboard's test opens
    # them in a browser with no request leaving the machine)
    assert offline_docs.remote_loads(data_docs) == []
    html = page.read_text()
    for path in offline_docs.CDN.values():
        vendored = data_docs / offline_docs.VENDOR / path
        assert vendored.stat().st_size > 0, path
    local = re.findall(r'(?:src|href)="((?:\.\./)+static/vendor/[^"]+)"', html)
    assert len(local) >= 10
    assert all((page.parent / path).resolve().exists() for path in local)


def test_results_are_queryable_as_a_trend(clean, ground_truth):
    validation.validate_batch("sms_vendor_a__learners", clean, "clean", as_of=AS_OF,
                              data_docs=False)
    with warehouse.connect(clean) as conn:
        runs = conn.execute("""
            select suite, count(*), bool_and(success), sum(critical_failures)
            from quality.validation_runs where suite = 'sms_vendor_a__learners'
            group by suite""").fetchone()
        trend = conn.execute("""
            select expectation, view_name, count(*), avg(unexpected_percent)
            from quality.validation_results
            where suite = 'sms_vendor_a__learners' and expectation like '%%birth_date__json%%'
            group by expectation, view_name""").fetchall()
    # no critical failure; a warning only where the sandbox served a malformed ID
    assert runs[1] >= 1 and runs[2] is (malformed_ids(ground_truth)["sms_vendor_a"] == 0)
    assert runs[3] == 0
    assert trend and trend[0][0] == "expect_column_values_to_not_be_null(birth_date__json)"


# --- hostile faults -------------------------------------------------------------------------

def test_renamed_field_fails_the_required_field_of_its_old_name(sandbox_dir, ground_truth,
                                                                 fresh_db):
    listed = faults.persistent_faults(ground_truth, FAULT_SEED, PERSISTENT_ONLY)
    renamed = {(f["source"], f["school_code"]): f["field"] for f in listed.renamed_fields}
    assert {s for s, _ in renamed} == {"sms_vendor_a", "sms_vendor_b"}
    with running_simulators(sandbox_dir, faults=PERSISTENT_ONLY, seed=FAULT_SEED) as sources:
        land_vendor("sms_vendor_a", client_a(sources), fresh_db, "hostile", ["learners"])
        land_vendor("sms_vendor_b", client_b(sources), fresh_db, "hostile", ["learners"])
    for vendor, field in (("sms_vendor_a", "birth_date"), ("sms_vendor_b", "so_dinh_danh")):
        result = validation.validate_batch(f"{vendor}__learners", fresh_db, "hostile",
                                           as_of=AS_OF)
        # the added field, the keyless records (quarantined) and the shifting listing fail nothing
        assert critical(result) == {
            ("records", "expect_column_values_to_not_be_null", f"{field}__json")}
        schools = {code for (source, code) in renamed if source == vendor}
        assert set(result.rejected_partitions) == schools
        failure = result.critical_failures[0]
        assert set(failure.partitions) == schools
        with pytest.raises(validation.CriticalExpectationFailed) as err:
            validation.raise_on_critical(result)
        assert f"expect_column_values_to_not_be_null({field}__json): " in str(err.value)
        assert f"{failure.unexpected_count} of {failure.element_count} rows unexpected" \
            in str(err.value)
        with warehouse.connect(fresh_db) as conn:
            marks = dict(conn.execute(
                "select partition, status from ops.batches where batch_id = 'hostile' "
                "and source = %s and entity = 'learners'", (vendor,)).fetchall())
            reasons = conn.execute(
                "select partition, reasons from ops.batch_rejections where batch_id = 'hostile' "
                "and source = %s", (vendor,)).fetchall()
            still_landed = conn.execute(
                f"select count(distinct partition) from raw.{vendor}__learners "
                "where batch_id = 'hostile' and partition = any(%s)",
                (sorted(schools),)).fetchone()[0]
        assert {p for p, s in marks.items() if s == "rejected"} == schools
        assert {s for p, s in marks.items() if p not in schools} == {"validated"}
        assert reasons == [(code, f"expect_column_values_to_not_be_null({field}__json)")
                           for code in sorted(schools)]
        assert still_landed == len(schools)


def staged_keys(url: str, table: str) -> set[str]:
    """The keys staging reads of a raw table (the macro latest_version, fail closed)."""
    with warehouse.connect(url) as conn:
        return {r[0] for r in conn.execute(sql.SQL("select natural_key from ({}) as c").format(
            current_versions_query(table)))}


def eduhub(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([runtime.tool("eduhub"), *args], env=runtime.environment(url),
                          capture_output=True, text=True)


def test_fail_closed_until_validated_or_accepted_by_an_operator(sandbox_dir, ground_truth,
                                                                fresh_db):
    listed = faults.persistent_faults(ground_truth, FAULT_SEED, PERSISTENT_ONLY)
    renamed = sorted(f["school_code"] for f in listed.renamed_fields
                     if f["source"] == "sms_vendor_a")
    table = "sms_vendor_a__learners"
    with running_simulators(sandbox_dir, faults=PERSISTENT_ONLY, seed=FAULT_SEED) as sources:
        # day 1 lands, and its validation never runs (the task crashed)
        codes = land_vendor("sms_vendor_a", client_a(sources), fresh_db, "day1", ["learners"])
        with warehouse.connect(fresh_db) as conn:
            landed = dict(conn.execute(f"select partition, array_agg(distinct natural_key) "
                                       f"from raw.{table} group by 1").fetchall())
            marks = conn.execute("select count(*) from ops.watermarks").fetchone()[0]
        assert set(landed) == set(codes) and renamed
        assert staged_keys(fresh_db, table) == set()  # nothing unvalidated reaches staging
        assert marks == 0  # and no watermark moved: the next read starts where day 1 did
        listing = eduhub(fresh_db, "batch", "list")
        assert listing.returncode == 0
        assert all(f"day1  sms_vendor_a.learners  {code}  landed" in listing.stdout
                   for code in codes)
        # day 2 reads the same, and its validation takes up day 1's
        land_vendor("sms_vendor_a", client_a(sources), fresh_db, "day2", ["learners"])
    results = validation.validate_sources(fresh_db, "day2", ["sms_vendor_a"], as_of=AS_OF)
    assert {(r.suite, r.batch_id) for r in results if r.batch_id == "day1"} == {
        ("sms_vendor_a__learners", "day1"), ("sms_vendor_a__schools", "day1")}
    clean = set(codes) - set(renamed)
    with warehouse.connect(fresh_db) as conn:
        status = dict(conn.execute("select partition, status from ops.batches where batch_id = "
                                   "'day1' and entity = 'learners'").fetchall())
        marked = {r[0] for r in conn.execute(
            "select partition from ops.watermarks where entity = 'learners'")}
    assert status == {c: "rejected" if c in renamed else "validated" for c in codes}
    assert staged_keys(fresh_db, table) == set().union(*(landed[c] for c in clean))
    assert marked == clean

    # an operator accepts one rejected school, with a reason; the command records it
    chosen = renamed[0]
    accepted = eduhub(fresh_db, "batch", "accept", "day1", "sms_vendor_a.learners",
                      "--partition", chosen, "--by", "Nguyễn Thị Vận Hành",
                      "--reason", "Trường xác nhận bằng công văn số 12/THCS")
    assert accepted.returncode == 0, accepted.stderr
    assert staged_keys(fresh_db, table) == set().union(*(landed[c] for c in {*clean, chosen}))
    # validating the batch again keeps the acceptance; the other rejections stay
    validation.validate_batch(f"{table}", fresh_db, "day1", as_of=AS_OF)
    with warehouse.connect(fresh_db) as conn:
        status = dict(conn.execute("select partition, status from ops.batches where batch_id = "
                                   "'day1' and entity = 'learners'").fetchall())
        record = conn.execute("select partition, accepted_by, reason from ops.batch_acceptances"
                              ).fetchall()
        marked = {r[0] for r in conn.execute(
            "select partition from ops.watermarks where entity = 'learners'")}
    assert status == {c: "accepted" if c == chosen else "rejected" if c in renamed
                      else "validated" for c in codes}
    assert record == [(chosen, "Nguyễn Thị Vận Hành", "Trường xác nhận bằng công văn số 12/THCS")]
    assert marked == {*clean, chosen}
    # a partition that was not rejected cannot be accepted; a reason is required
    again = eduhub(fresh_db, "batch", "accept", "day1", "sms_vendor_a.learners",
                   "--partition", sorted(clean)[0], "--reason", "nhầm")
    assert again.returncode == 2 and "batch day1 of sms_vendor_a.learners" in again.stderr
    assert eduhub(fresh_db, "batch", "accept", "day1", "sms_vendor_a.learners").returncode == 2


class CorruptingVendorA(VendorAClient):
    """Vendor A's answers with some values malformed, as a buggy export would send them."""

    school = None

    def request(self, method, endpoint, page="-", **kwargs):
        body = super().request(method, endpoint, page=page, **kwargs)
        if endpoint == f"/schools/{self.school}/learners" and page == "1":
            data = body["data"]
            data[0] = {**data[0], "birth_date": "12/03/2015"}  # not the contract's ISO date
            data[1] = {**data[1], "grade": "5a"}
            data[2] = {**data[2], "gender": "X"}
            data[3] = {**data[3], "national_id": "12345"}  # a school's typo: a warning
        return body


def test_malformed_values_fail_their_format_expectations(simulators, fresh_db, ground_truth):
    codes = sorted(s["school_code"] for s in ground_truth["schools"] if s["vendor"] == "sms_vendor_a")
    CorruptingVendorA.school = codes[0]
    land_vendor("sms_vendor_a", client_a(simulators, CorruptingVendorA), fresh_db, "bad",
                ["learners"])
    result = validation.validate_batch("sms_vendor_a__learners", fresh_db, "bad", as_of=AS_OF)
    assert critical(result) == {
        ("records", "expect_column_values_to_match_regex", "birth_date"),
        ("records", "expect_column_values_to_match_regex", "grade"),
        ("records", "expect_column_values_to_be_in_set", "gender"),
    }
    assert ("records", "expect_column_values_to_match_regex", "national_id") in \
        result.failed("warning")
    assert result.rejected_partitions == (codes[0],)
    assert all(o.unexpected_count == 1 for o in result.critical_failures)
    message = result.message()
    assert "expect_column_values_to_be_in_set(gender): 1 of " in message
    assert 'e.g. "X"' in message  # a code is shown; a malformed date or ID is not
    assert "12/03/2015" not in message and "12345" not in message


class TruncatingPcgd(PcgdClient):
    """A page cut short that still parses: the client sees fewer records than `total`."""

    def request(self, method, endpoint, page="-", **kwargs):
        body = super().request(method, endpoint, page=page, **kwargs)
        if endpoint.endswith("/households") and page == "2":
            body = {**body, "data": body["data"][: len(body["data"]) // 2]}
        return body


def test_truncated_page_fails_the_row_count_against_the_reported_total(simulators, fresh_db):
    client = client_pcgd(simulators, TruncatingPcgd, page_size=50)
    communes = pcgd_pipeline.commune_codes(client)
    for commune in communes:
        pcgd_pipeline.land_commune(client, fresh_db, "cut", commune)
    result = validation.validate_batch("pcgd__households", fresh_db, "cut", as_of=AS_OF)
    assert critical(result) == {
        ("source_counts", "expect_column_pair_values_to_be_equal", None)}
    failure = result.critical_failures[0]
    assert failure.name == "expect_column_pair_values_to_be_equal(received, reported_total)"
    assert set(failure.partitions) == set(communes) == set(result.rejected_partitions)
    with warehouse.connect(fresh_db) as conn:
        counts = dict(conn.execute("select partition, array[received, reported_total] "
                                   "from ops.source_counts where batch_id = 'cut'").fetchall())
    # the message shows what arrived against what the source reported
    shown = failure.describe()
    assert any(f"({got}, {total})" in shown for got, total in counts.values())
    assert all(got < total for got, total in counts.values())


class RepeatingVendorB(VendorBClient):
    """A cursor page that serves one learner twice, updated in between (a source-side bug)."""

    def request(self, method, endpoint, page="-", **kwargs):
        body = super().request(method, endpoint, page=page, **kwargs)
        if endpoint == "/hoc-sinh" and page == "1" and body["items"]:
            again = {**body["items"][0], "ngay_cap_nhat": "20/11/2026 09:00:00"}
            body = {**body, "items": [*body["items"], again]}
        return body


def test_a_key_served_twice_in_one_listing_is_quarantined_once_not_landed_twice(simulators,
                                                                              fresh_db):
    codes = land_vendor("sms_vendor_b", client_b(simulators, RepeatingVendorB), fresh_db, "dup",
                        ["learners"])
    with warehouse.connect(fresh_db) as conn:
        quarantined = conn.execute("select partition, reason, raw_text::jsonb ->> 'ngay_cap_nhat' "
                                   "from ops.quarantine order by partition").fetchall()
        repeated = conn.execute("select count(*) from (select natural_key from "
                                "raw.sms_vendor_b__learners group by natural_key "
                                "having count(*) > 1) as k").fetchone()[0]
    # the earlier record of each school's repeated learner, with the reason; the later landed
    assert [q[0] for q in quarantined] == sorted(codes)
    assert all("has the natural key of record" in q[1] for q in quarantined)
    assert all(q[2] != "20/11/2026 09:00:00" for q in quarantined) and repeated == 0
    result = validation.validate_batch("sms_vendor_b__learners", fresh_db, "dup", as_of=AS_OF)
    assert critical(result) == set() and result.rejected_partitions == ()


def test_a_key_landed_by_two_partitions_of_a_batch_fails_uniqueness(simulators, fresh_db):
    codes = land_vendor("sms_vendor_a", client_a(simulators), fresh_db, "dup", ["learners"])
    with warehouse.connect(fresh_db) as conn:
        one = conn.execute("select payload from raw.sms_vendor_a__learners where partition = %s "
                           "limit 1", (codes[0],)).fetchone()[0]
        # a school's learner served again, in another class, in another school's listing
        land_partition(conn, PER_SCHOOL_A["learners"], [{**one, "class_name": "9Z"}],
                       batch_id="dup", partition=codes[1], extracted_at=datetime.now(UTC),
                       full=False)
    result = validation.validate_batch("sms_vendor_a__learners", fresh_db, "dup", as_of=AS_OF)
    # the learner twice in the batch, and under a school that is not its own
    assert critical(result) == {("records", "expect_column_values_to_be_unique", "natural_key"),
                                ("records", "expect_column_pair_values_to_be_equal", None)}
    unique = next(f for f in result.critical_failures
                  if f.expectation_type == "expect_column_values_to_be_unique")
    assert unique.unexpected_count == 2  # both versions
    assert set(result.rejected_partitions) == {codes[0], codes[1]}
    # the composite key (school|learner) is not quoted in the message
    assert "natural_key): " in result.message() and "|" not in result.message()


def test_a_suite_that_cannot_be_run_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "EXPECTATIONS_DIR", tmp_path)
    (tmp_path / "x__y.json").write_text(json.dumps({
        "name": "x__y", "source": "x", "entity": "y",
        "expectations": [{"type": "expect_column_values_to_not_be_null",
                          "kwargs": {"column": "a"}}]}))
    with pytest.raises(validation.SuiteError, match="needs severity critical or warning"):
        validation.load_suite("x__y")


def test_date_shapes_follow_the_calendar():
    import re

    iso, vn = re.compile(validation.PARAMETERS["iso_date"]), re.compile(
        validation.PARAMETERS["vn_date"])
    assert iso.match("2024-02-29") and not iso.match("2023-02-29")
    assert not iso.match("2015-02-30") and not iso.match("2015-13-01")
    assert not iso.match("1900-02-29") and iso.match("2000-02-29")
    assert vn.match("29/02/2024") and not vn.match("31/04/2015") and not vn.match("2015-04-01")
    ts = re.compile(validation.PARAMETERS["iso_timestamp"])
    assert ts.match("2026-10-01T08:00:00+07:00") and not ts.match("2026-10-01 08:00")


class FirstPageOnlyPcgd(PcgdClient):
    """A source that says nothing of its pages: the client reads page 1 and stops."""

    def request(self, method, endpoint, page="-", **kwargs):
        body = super().request(method, endpoint, page=page, **kwargs)
        if endpoint.endswith("/households"):
            body = {k: v for k, v in body.items() if k not in ("total", "total_pages")}
        return body


def test_a_short_full_read_withdraws_nothing_and_holds_the_commune(simulators, fresh_db):
    """Deletions need proof: a full read that no longer lists most of a commune's households
    withdraws none of them, and validation rejects the commune, which tells the operators; a
    run that accepts the deletions, once checked, withdraws them."""
    full = client_pcgd(simulators, page_size=10)
    communes = pcgd_pipeline.commune_codes(full)
    for commune in communes:
        pcgd_pipeline.land_commune(full, fresh_db, "full", commune, full_refresh=True)
    short = client_pcgd(simulators, FirstPageOnlyPcgd, page_size=10)
    results = {c: pcgd_pipeline.land_commune(short, fresh_db, "short", c, full_refresh=True)
               for c in communes}
    held = {c for c, r in results.items() if r.held_deletions}
    assert held == {c for c, r in results.items() if r.received == 10}  # every one cut short
    assert sum(r.deleted for r in results.values()) == 0
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from raw.pcgd__households where is_deleted"
                            ).fetchone()[0] == 0
        counts = dict(conn.execute("select partition, held_deletions from ops.source_counts "
                                   "where batch_id = 'short'").fetchall())
    assert {c for c, n in counts.items() if n} == held
    result = validation.validate_batch("pcgd__households", fresh_db, "short", as_of=AS_OF)
    assert ("source_counts", "expect_column_values_to_be_in_set", "held_deletions") in \
        critical(result)
    assert held <= set(result.rejected_partitions)
    commune = sorted(held)[0]
    accepted = pcgd_pipeline.land_commune(short, fresh_db, "accepted", commune,
                                          full_refresh=True, accept_deletions=True)
    assert accepted.held_deletions == 0 and accepted.deleted == counts[commune]


def test_one_bad_value_never_stops_the_models_and_validation_names_it(fresh_db, tmp_path):
    """A grade of 20 digits (the contract's integer regex once let it through) and a date of
    month 13: validation fails the field by name, and once the partition is accepted the
    staging view still reads (null where the value is not one)."""
    from datetime import UTC, datetime

    from eduhub import runtime
    from eduhub.sources.sms_vendor_a import LEARNERS

    good = {"learner_id": "2000000001", "national_id": "072215012345", "full_name": "Lê Văn A",
            "birth_date": "2015-03-09", "gender": "M", "ethnicity": "Kinh",
            "school_code": "80001001", "class_name": "5A", "grade": "5",
            "enrollment_status": "dang_hoc", "updated_at": "2026-11-19T08:00:00+07:00"}
    bad = {**good, "learner_id": "2000000002", "grade": "9" * 20,
           "updated_at": "2026-13-45T08:00:00+07:00"}
    with warehouse.connect(fresh_db) as conn:
        land_partition(conn, LEARNERS, [good, bad], batch_id="poison", partition="80001001",
                       extracted_at=datetime.now(UTC))
    result = validation.validate_batch("sms_vendor_a__learners", fresh_db, "poison", as_of=AS_OF)
    assert ("records", "expect_column_values_to_match_regex", "grade") in critical(result)
    assert result.rejected_partitions == ("80001001",)
    # an operator accepts the partition anyway (the school confirms the other records)
    validation.accept_partitions(fresh_db, "poison", "sms_vendor_a", "learners",
                                 reason="trường xác nhận", accepted_by="test")
    env = runtime.environment(fresh_db)
    runtime.run(runtime.dbt_args(["run", "--select", "stg_sms_vendor_a__learners",
                                  "--target-path", str(tmp_path / "target")]), env,
                stdout=subprocess.DEVNULL)
    with warehouse.connect(fresh_db) as conn:
        rows = dict(conn.execute("select moet_id, grade from staging.stg_sms_vendor_a__learners"
                                 ).fetchall())
    assert rows == {"2000000001": 5, "2000000002": None}
