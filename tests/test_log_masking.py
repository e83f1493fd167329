"""Personal IDs and secrets are masked in task logs: a real `airflow dags test` run whose tasks
log them (stdlib logging, a returned value, an exception), and the Task SDK's own processor
chain, which writes the task log files of supervised runs (print() and subprocess output
included: `dags test` leaves those on the console, outside any log)."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import textwrap

import pytest

from eduhub import log_masking, runtime

ID = "072201512345"
OTHER_ID = "079301000123"

PROBE_DAG = textwrap.dedent('''
    """A task that leaks on purpose (tests/test_log_masking.py)."""
    import logging
    import os

    import pendulum
    from airflow.sdk import dag, task


    @dag(schedule=None, start_date=pendulum.datetime(2026, 9, 1), catchup=False)
    def log_masking_probe():
        @task
        def leak():
            key = os.environ["EDUHUB_PSEUDONYM_KEY"]
            logging.getLogger("eduhub.probe").info("probe-logged %s key %s", "072201512345", key)
            logging.getLogger("eduhub.probe").warning(
                "probe-warned 079301000123 %s", os.environ["EDUHUB_PGPASSWORD"])
            return "probe-returned 072201512345"

        @task
        def fail(value):
            raise ValueError(f"probe-raised {value} with key {os.environ['EDUHUB_PSEUDONYM_KEY']}")

        fail(leak())


    log_masking_probe()
''')


def test_mask_hides_ids_and_secrets_and_nothing_else():
    text = ("id 072201512345, 13 digits 0722015123456, pw s3cr3t-Value, date 2026-11-22, "
            "at 2026-11-22 09:05:07.123456, uuid 01a23caa-4b63-709a-9e27-27a2ff59d700, "
            "took 0.123456789 s, 1234567 rows, port 51085")
    assert log_masking.mask(text, ["s3cr3t-Value"]) == (
        "id ***, 13 digits 0722015123456, pw ***, date 2026-11-22, "
        "at 2026-11-22 09:05:07.123456, uuid 01a23caa-4b63-709a-9e27-27a2ff59d700, "
        "took 0.123456789 s, 1234567 rows, port 51085")


@pytest.mark.parametrize("written", [
    "072 201 512 345", "072.201.512.345", "072-201-512-345", "0722 0151 2345",
    "０７２２０１５１２３４５",  # full-width digits
    "271234567", "271 234 567",  # a 9-digit ID card (CMND)
    "07220151234",  # a personal ID with a digit lost in typing (11 digits)
    "0912345678", "0912 345 678", "0912.345.678", "+84 912 345 678", "84912345678",
])
def test_mask_hides_ids_and_phone_numbers_as_people_write_them(written):
    assert log_masking.mask(f"học sinh {written}: lỗi", []) == "học sinh ***: lỗi"


def test_url_encoded_secrets_are_masked_too():
    env = {"AIRFLOW_CONN_PCGD": "http://key:p%40ss%2Fw0rd@h:80"}
    line = "GET http://key:p%40ss%2Fw0rd@h:80/api and the password p@ss/w0rd"
    assert log_masking.mask(line, log_masking.configured_secrets(env)) == \
        "GET http://key:***@h:80/api and the password ***"
    env = {"EDUHUB_PSEUDONYM_KEY": "pseudonym-key-0123456789",
           "EDUHUB_WAREHOUSE_URL": "postgresql://eduhub:url%2Fpass@h:5432/eduhub",
           "AIRFLOW_CONN_SMS_VENDOR_A": '{"conn_type": "http", "password": "client-secret"}',
           "AIRFLOW_CONN_PCGD": "http://key:api-key-uri@h:80",
           "EDUHUB_MASKED_ENV": "MY_TOKEN", "MY_TOKEN": "token-value", "SHORT": "abc"}
    assert set(log_masking.configured_secrets(env)) == {
        "pseudonym-key-0123456789", "url/pass", "url%2Fpass", "client-secret", "api-key-uri",
        "token-value"}


def test_structured_events_keep_their_values_and_lose_ids():
    from typing import NamedTuple

    class RunInfo(NamedTuple):  # Airflow logs named tuples as event fields
        run_after: str
        data_interval: tuple | None

    info = RunInfo("2026-11-22", None)
    leaky = RunInfo(f"learner {ID}", None)
    event = log_masking.masking_processor(["s3cr3t-Value"])(None, "info", {
        "event": "next run", "info": info, "leaky": leaky, "as_number": 172201512345,
        "count": 7, "ratio": 0.5, "nested": [{"pw": "s3cr3t-Value"}, (ID, 3)]})
    assert event["info"] is info
    assert event["leaky"] == "RunInfo(run_after='learner ***', data_interval=None)"
    assert event["as_number"] == "***"
    assert (event["count"], event["ratio"]) == (7, 0.5)
    assert event["nested"] == [{"pw": "***"}, ("***", 3)]


def test_masking_filter_on_python_logging(caplog):
    logger = logging.getLogger("eduhub.test_masking")
    logger.addFilter(log_masking.MaskingFilter(["hunter2-secret"]))
    with caplog.at_level(logging.INFO, logger="eduhub.test_masking"):
        logger.info("learner %s password %s", ID, "hunter2-secret")
    assert caplog.messages == ["learner *** password ***"]


@pytest.mark.slow
def test_task_logs_of_a_dag_run_hide_ids_and_secrets(airflow_home, server_url, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "log_masking_probe.py").write_text(PROBE_DAG)
    env = runtime.environment(server_url, airflow_home=airflow_home)
    assert env["AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS"] == runtime.LOGGING_CONFIG_CLASS
    key = "probe-key-" + secrets.token_urlsafe(16)
    env.update({"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "EDUHUB_PSEUDONYM_KEY": key,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs")})
    run = subprocess.run([runtime.tool("airflow"), "dags", "test", "log_masking_probe",
                          "2026-11-22"], env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    files = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*")
                    if p.is_file())
    for marker in ("probe-logged", "probe-warned", "probe-returned", "probe-raised"):
        assert marker in output + files, f"{marker} never reached the log: nothing was checked"
    for leaked in (ID, OTHER_ID, key, env["EDUHUB_PGPASSWORD"]):
        assert leaked not in output, leaked
        assert leaked not in files, leaked
    assert "probe-logged *** key ***" in output + files
    assert "ValueError: probe-raised probe-returned *** with key ***" in output + files


SUPERVISOR_CHAIN = textwrap.dedent('''
    import json, sys
    from eduhub import log_masking
    log_masking.LOGGING_CONFIG  # what Airflow does when it reads [logging] logging_config_class
    from airflow.sdk.log import logging_processors
    event = {"event": "probe-printed 072201512345 with " + sys.argv[1], "logger": "task.stdout",
             "level": "info", "extra": {"id": "079301000123"}}
    for processor in logging_processors(json_output=True):
        event = processor(None, "info", event)
    sys.stdout.write(event.decode() if isinstance(event, bytes) else str(event))
''')


def test_the_task_log_file_chain_masks_what_the_supervisor_captures(server_url, tmp_path):
    """What a supervised task prints (stdout lines become log events) goes through the Task
    SDK's processors to the task's log file: with the masking step among them."""
    env = runtime.environment(server_url, airflow_home=tmp_path)
    secret = "printed-secret-" + secrets.token_urlsafe(8)
    env["EDUHUB_MASKED_ENV"] = "PROBE_SECRET"
    env["PROBE_SECRET"] = secret
    out = subprocess.run([runtime.tool("python"), "-c", SUPERVISOR_CHAIN, secret], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["event"] == "probe-printed *** with ***"
    assert line["extra"] == {"id": "***"}


def test_eduhub_dbt_masks_its_output_and_keeps_no_log_file(warehouse_url, tmp_path):
    """`eduhub dbt` as an engineer runs it: a value dbt prints (here a query's result) reaches
    the terminal masked, and dbt writes no log file of its own."""
    env = {**runtime.environment(warehouse_url), "DBT_LOG_PATH": str(tmp_path / "logs")}
    proc = subprocess.run([runtime.tool("eduhub"), "dbt", "show", "--inline",
                           "select '072201512345' as personal_id"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "personal_id" in proc.stdout and "***" in proc.stdout
    assert "072201512345" not in proc.stdout + proc.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_values_an_expectation_shows_are_masked_too():
    """An expectation that shows its failing values (codes, counts) still never shows a
    personal ID or phone number a source wrote in the wrong field."""
    from eduhub.validation.results import _values_of

    detail = {"partial_unexpected_list": ["Nữ ", "072201512345", "0912 345 678", "Nữ ", 7]}
    assert _values_of(detail) == ("Nữ ", "***", 7)
