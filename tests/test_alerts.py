"""Alerts to the Sở's operators: a real `airflow dags test` run whose tasks fail (one of a
mapped school, one validation rejecting a school's partition of a real landed batch) mails each
failure once to a real SMTP server (aiosmtpd, in the test), in Vietnamese, naming the DAG, the
task, the school and the reason, without the personal ID or the secret the exception held."""

from __future__ import annotations

import logging
import re
import secrets
import subprocess
import textwrap
import time
import unicodedata
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from conftest import text_of

from eduhub import alerts, migrations, runtime, settings, warehouse
from eduhub.airflow_services import free_port

ID = "072201512345"
OPERATORS = ["van-hanh@so-gddt.example", "truc-ban@so-gddt.example"]
BASE_URL = "https://eduhub.so-gddt.example/airflow"
FAILED_SCHOOL = "80001003"
REJECTED_SCHOOL, CLEAN_SCHOOL = "80001001", "80001002"

PROBE_DAG = textwrap.dedent('''
    """Tasks that fail on purpose (tests/test_alerts.py)."""
    import os
    from datetime import UTC, datetime

    import pendulum
    from airflow.sdk import dag, get_current_context, task

    from eduhub import dag_support
    from eduhub.dag_support import DEFAULT_ARGS


    def learner(school_code, gender):
        return {"learner_id": school_code[-4:] + "000001", "national_id": "079301000123",
                "full_name": "Nguyễn Văn An", "birth_date": "2015-03-12", "gender": gender,
                "ethnicity": "Kinh", "school_code": school_code, "class_name": "5A",
                "grade": "5", "enrollment_status": "dang_hoc",
                "updated_at": "2026-11-20T08:00:00+07:00"}


    @dag(schedule=None, start_date=pendulum.datetime(2026, 9, 1), catchup=False,
         dag_display_name="Thử cảnh báo", default_args={**DEFAULT_ARGS, "retries": 0})
    def alerts_probe():
        @task
        def sync_school(target: dict):
            from eduhub.sources.transport import SourceRequestError

            raise SourceRequestError(f"probe-failed school {target['school_code']}: learner "
                                     f"072201512345 refused, key "
                                     f"{os.environ['EDUHUB_PSEUDONYM_KEY']}")

        @task
        def validate_batch():
            from eduhub import validation, warehouse
            from eduhub.landing import land_partition
            from eduhub.sources.sms_vendor_a import LEARNERS

            url = dag_support.warehouse_url()
            run_id = get_current_context()["run_id"]
            with warehouse.connect(url) as conn:
                for code, gender in (("80001001", "X"), ("80001002", "F")):
                    land_partition(conn, LEARNERS, [learner(code, gender)], batch_id=run_id,
                                   partition=code, extracted_at=datetime.now(UTC))
            result = validation.validate_batch("sms_vendor_a__learners", url, run_id,
                                               data_docs=False)
            validation.fail_task_on_critical(result)

        sync_school.override(task_id="sync_sms_vendor_a_school").expand(
            target=[{"source": "sms_vendor_a", "school_code": "80001003"}])
        validate_batch()


    alerts_probe()
''')


@pytest.fixture(scope="module")
def failed_run(airflow_home, server_url, smtp_server, tmp_path_factory):
    """One `airflow dags test` run of the probe DAG; the mails it sent, by task id."""
    host, port, inbox = smtp_server
    tmp = tmp_path_factory.mktemp("alerts")
    dags = tmp / "dags"
    dags.mkdir()
    (dags / "alerts_probe.py").write_text(PROBE_DAG)
    url = warehouse.create_database("eduhub_alerts", server_url, replace=True)
    migrations.upgrade(url)
    env = runtime.environment(url, airflow_home=airflow_home)
    key = "probe-key-" + secrets.token_urlsafe(16)
    env.update({"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "EDUHUB_PSEUDONYM_KEY": key,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp / "logs"),
                "AIRFLOW__API__BASE_URL": BASE_URL,
                "EDUHUB_DATA_DOCS_DIR": str(tmp / "data_docs"),
                **alerts.smtp_env(host, port, ",".join(OPERATORS))})
    # the server is the session's: the mails of tests run before on this worker come first
    before = len(inbox.mails)
    started = time.monotonic()
    run = subprocess.run([runtime.tool("airflow"), "dags", "test", "alerts_probe", "2026-11-22"],
                         env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    sent = inbox.mails[before:]
    mails = {m["X-EduHub-Task"]: (to, m) for to, m in sent}
    return SimpleNamespace(mails=mails, count=len(sent), output=output, key=key,
                           env=env, seconds=time.monotonic() - started)


@pytest.mark.slow
def test_a_failed_task_mails_the_operators_once(failed_run):
    assert failed_run.count == 2, failed_run.output[-4000:]  # one per failed task, no DAG mail
    to, mail = failed_run.mails["sync_sms_vendor_a_school"]
    assert to == OPERATORS
    subject = mail["Subject"]
    assert subject == ("[EduHub] Lỗi: alerts_probe / sync_sms_vendor_a_school "
                       f"({FAILED_SCHOOL})")
    body = text_of(mail)
    assert unicodedata.is_normalized("NFC", body)
    for shown in ("alerts_probe — Thử cảnh báo", "sync_sms_vendor_a_school (map_index 0)",
                  "Trường (mã)", FAILED_SCHOOL, "SourceRequestError: probe-failed school",
                  "Ngày của lượt chạy</th><td>2026-11-22<"):
        assert shown in body, shown
    # the link to the task's log, under [api] base_url
    run_id = re.search(r"Lượt chạy \(run id\)</th><td>([^<]+)</td>", body).group(1)
    assert (f'href="{BASE_URL}/dags/alerts_probe/runs/{quote(run_id)}'
            '/tasks/sync_sms_vendor_a_school/mapped/0?try_number=1"') in body
    # the personal ID and the secret the exception held are masked
    for leaked in (ID, failed_run.key):
        assert leaked not in body and leaked not in subject
    assert "learner *** refused, key ***" in body


@pytest.mark.slow
def test_a_rejected_partition_mails_the_school_it_rejected(failed_run):
    _, mail = failed_run.mails["validate_batch"]
    subject = mail["Subject"]
    assert subject == f"[EduHub] Dữ liệu bị loại: alerts_probe / validate_batch ({REJECTED_SCHOOL})"
    body = text_of(mail)
    assert f"Phân vùng bị loại (sms_vendor_a__learners)</th><td>{REJECTED_SCHOOL}</td>" in body
    assert mail["X-EduHub-Partitions"] == REJECTED_SCHOOL
    assert CLEAN_SCHOOL not in body  # validated: not named
    assert "CriticalExpectationFailed" in body and "expect_column_values_to_be_in_set(gender)" \
        in body
    # the learner's personal data never reaches the mail
    for leaked in ("079301000123", "Nguyễn Văn An", "2015-03-12"):
        assert leaked not in body


def test_without_an_smtp_connection_nothing_is_sent_and_one_line_is_logged(monkeypatch, caplog):
    monkeypatch.delenv(f"AIRFLOW_CONN_{settings.SMTP_CONN_ID.upper()}", raising=False)
    context = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1),
               "exception": ValueError("boom")}
    with caplog.at_level(logging.INFO, logger="eduhub.alerts"):
        assert alerts.notify_operators(context) is None
    assert [r.getMessage() for r in caplog.records if r.name == "eduhub.alerts"] == [
        "eduhub alerts: no SMTP connection 'eduhub_smtp', no mail for the failure of d/t"]


def test_a_mail_that_cannot_be_sent_never_raises(monkeypatch, caplog):
    for name, value in alerts.smtp_env("127.0.0.1", free_port(), OPERATORS[0]).items():
        monkeypatch.setenv(name, value)  # nobody listens there
    context = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1),
               "exception": ValueError(f"boom {ID}")}
    with caplog.at_level(logging.INFO, logger="eduhub.alerts"):
        assert alerts.notify_operators(context) is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("the alert could not be sent" in e for e in errors), errors


def test_another_librarys_message_stays_out_of_the_mail():
    """A database error may quote a row (DETAIL: Key (...)=(...)): only its type is mailed."""
    import psycopg

    exc = psycopg.errors.UniqueViolation(
        'duplicate key value\nDETAIL:  Key (full_name, birth_date)=(Nguyễn Văn An, 2015-03-12)')
    reason = alerts._reason(exc)
    assert reason.startswith("UniqueViolation")
    assert "Nguyễn" not in reason and "2015-03-12" not in reason
