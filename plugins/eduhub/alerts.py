"""Alerts to the Sở's operators: a mail for every task that fails, through Airflow's notifiers.

`notify_operators` (an `OperatorAlert`, a subclass of Airflow's `BaseNotifier` sending through
the SMTP provider's `SmtpHook`) is every task's `on_failure_callback` (`dag_support.
DEFAULT_ARGS`). A task fails for good (its retries spent) or a validation rejects partitions of
a batch (`validation.fail_task_on_critical` fails the task at once): one mail, in Vietnamese,
naming the DAG (and its Vietnamese display name), the task, the run, the run's day, the school
or commune codes concerned (the mapped task's own school or commune; the partitions the
validation rejected, per suite), the reason (the exception's message, truncated) and a link to
the task's log in the Airflow UI (`[api] base_url`).

Only the task-level callback is wired: a DAG run here fails only through a failed task (no DAG
has a `dagrun_timeout`), so a DAG-level callback would mail the same failure twice. The task's
own process runs the callback; when a task dies without running it (killed, heartbeat lost),
the scheduler has the DAG processor run the same callback, without the exception.

Settings:
- the Airflow connection `eduhub_smtp` (type smtp: host, port, login, password; extra
  `from_email`, `disable_tls`, `disable_ssl`, `timeout`, `retry_limit`, as the SMTP provider
  reads them). Without it the callback logs one line and sends nothing (the demo, the tests);
- the recipients: `EDUHUB_ALERT_EMAILS` (comma-separated) or the Airflow variable
  `eduhub_alert_emails`.

No personal data in a mail: the platform's messages name codes and counts only, and every free
text of the mail goes through `log_masking.mask` as well (12-digit personal IDs and the
configured secrets become ***). A callback never raises: a mail that cannot be sent is logged,
and the task's own failure stands.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import socket
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from airflow.sdk.bases.notifier import BaseNotifier

from eduhub import settings
from eduhub.log_masking import mask

log = logging.getLogger(__name__)

ALERT_EMAILS_ENV = "EDUHUB_ALERT_EMAILS"
ALERT_EMAILS_VARIABLE = "eduhub_alert_emails"
REASON_MAX_CHARS = 1500
SUBJECT_CODES_SHOWN = 3
PARTITIONS_SHOWN = 30
DEFAULT_BASE_URL = "http://localhost:8080/"
# arguments of a mapped task that name its partition, and what they are to an operator
PARTITION_ARGUMENTS = {"school_code": "Trường", "commune_code": "Xã, phường",
                       "partition": "Phân vùng"}


def smtp_connection(host: str, port: int, *, from_email: str = "eduhub@localhost",
                    login: str | None = None, password: str | None = None,
                    tls: bool = False, timeout: int = 10, retry_limit: int = 1) -> str:
    """The value of `AIRFLOW_CONN_EDUHUB_SMTP` for an SMTP server (plain SMTP unless `tls`:
    STARTTLS). For the tests and the demo; a deployment sets its own."""
    extra = {"from_email": from_email, "disable_ssl": True, "disable_tls": not tls,
             "timeout": timeout, "retry_limit": retry_limit}
    conn = {"conn_type": "smtp", "host": host, "port": port, "extra": extra}
    if login:
        conn["login"] = login
    if password:
        conn["password"] = password
    return json.dumps(conn)


def smtp_env(host: str, port: int, recipients: str | list[str], **kwargs) -> dict[str, str]:
    """The environment a run needs to mail its alerts to these recipients."""
    to = recipients if isinstance(recipients, str) else ",".join(recipients)
    return {f"AIRFLOW_CONN_{settings.SMTP_CONN_ID.upper()}": smtp_connection(host, port, **kwargs),
            ALERT_EMAILS_ENV: to}


def _addresses(text: str | None) -> list[str]:
    return [a for a in re.split(r"[\s,;]+", text or "") if a]


def recipients() -> list[str]:
    """`EDUHUB_ALERT_EMAILS`, else the Airflow variable `eduhub_alert_emails`."""
    found = _addresses(os.environ.get(ALERT_EMAILS_ENV))
    if found:
        return found
    from airflow.sdk import Variable

    try:
        return _addresses(Variable.get(ALERT_EMAILS_VARIABLE, default=None))
    except Exception as exc:  # noqa: BLE001 - no variable store here: no recipients
        log.warning("eduhub alerts: variable %s unreadable (%s)", ALERT_EMAILS_VARIABLE,
                    type(exc).__name__)
        return []


# --- what a mail says ------------------------------------------------------------------------

@dataclass(frozen=True)
class Alert:
    """One failure, as the operators read it. Every text is already masked."""

    dag_id: str
    task_id: str | None
    run_id: str | None
    dag_display_name: str | None = None
    map_index: int = -1
    try_number: int | None = None
    run_day: str | None = None
    # (label, code) of the task's own partition, from its arguments
    partitions: tuple[tuple[str, str], ...] = ()
    # suite -> the partitions its critical failure rejected
    rejected: dict[str, tuple[str, ...]] = field(default_factory=dict)
    batch_id: str | None = None
    reason: str = ""
    log_url: str | None = None

    @property
    def codes(self) -> list[str]:
        """Every partition code the alert names, rejected ones first, once each."""
        seen: dict[str, None] = {}
        for codes in self.rejected.values():
            seen.update(dict.fromkeys(codes))
        seen.update(dict.fromkeys(code for _, code in self.partitions))
        return list(seen)

    def subject(self) -> str:
        kind = "Dữ liệu bị loại" if any(self.rejected.values()) else "Lỗi"
        text = f"[EduHub] {kind}: {self.dag_id} / {self.task_id or 'DAG'}"
        codes = self.codes
        if codes:
            shown = codes[:SUBJECT_CODES_SHOWN]
            text += " (" + ", ".join(shown) + (", …" if len(codes) > len(shown) else "") + ")"
        return _nfc(text)

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) lines of the body, in order."""
        dag = self.dag_id + (f" — {self.dag_display_name}"
                             if self.dag_display_name and self.dag_display_name != self.dag_id
                             else "")
        task = (self.task_id or "(cả lượt chạy)") + (
            f" (map_index {self.map_index})" if self.map_index is not None and self.map_index >= 0
            else "")
        rows = [("DAG", dag), ("Tác vụ", task), ("Lượt chạy (run id)", self.run_id or "—"),
                ("Ngày của lượt chạy", self.run_day or "—")]
        if self.try_number:
            rows.append(("Lần thử", str(self.try_number)))
        rows += [(f"{label} (mã)", code) for label, code in self.partitions]
        for suite, codes in self.rejected.items():
            if codes:
                shown = list(codes[:PARTITIONS_SHOWN])
                more = len(codes) - len(shown)
                rows.append((f"Phân vùng bị loại ({suite})", ", ".join(shown)
                             + (f" và {more} phân vùng khác" if more > 0 else "")))
        if self.batch_id and self.rejected and self.batch_id != self.run_id:
            rows.append(("Lô dữ liệu (batch)", self.batch_id))
        return rows

    def html(self) -> str:
        e = html.escape
        if any(self.rejected.values()):
            lead = ("Kiểm tra chất lượng dữ liệu đã loại các phân vùng (trường hoặc xã, phường) "
                    "dưới đây khỏi lô dữ liệu: chúng vẫn được lưu trong vùng dữ liệu thô nhưng "
                    "không được đưa vào các mô hình cho đến khi nguồn gửi lại dữ liệu đúng, hoặc "
                    "cán bộ vận hành xem xét và chấp nhận (lệnh eduhub batch accept, có ghi lý "
                    "do).")
        else:
            lead = "Một tác vụ của nền tảng dữ liệu EduHub đã thất bại (đã hết số lần thử lại)."
        table = "".join(
            f'<tr><th align="left" valign="top" style="padding-right:12px">{e(label)}</th>'
            f"<td>{e(value)}</td></tr>" for label, value in self.rows())
        reason = self.reason or ("Không có thông báo lỗi: tác vụ có thể đã bị dừng từ bên ngoài "
                                 "(mất tín hiệu, hết bộ nhớ); xem nhật ký tác vụ.")
        link = (f'<p>Nhật ký tác vụ: <a href="{e(self.log_url)}">{e(self.log_url)}</a></p>'
                if self.log_url else "")
        body = (
            f"<p>{e(lead)}</p><table>{table}</table>"
            f"<p><b>Lý do</b></p><pre style=\"white-space:pre-wrap\">{e(reason)}</pre>{link}"
            "<p><small>Thư tự động của nền tảng dữ liệu EduHub, Sở Giáo dục và Đào tạo Tây Ninh. "
            "Thư không chứa dữ liệu cá nhân; chi tiết xem trong nhật ký tác vụ.</small></p>")
        return _nfc(f'<html><head><meta charset="utf-8"></head><body>{body}</body></html>')


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _airflow_redact(text: str) -> str:
    """What Airflow's own secrets masker hides (connection passwords, variables it read)."""
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:
        return text
    redacted = redact(text)
    return redacted if isinstance(redacted, str) else text


def _clean(value, limit: int | None = None) -> str | None:
    """Free text for a mail: masked (personal IDs, secrets), NFC, truncated."""
    if value is None:
        return None
    text = _nfc(mask(_airflow_redact(str(value))))
    if limit and len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return text


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _rejected(exc: BaseException | None) -> tuple[dict[str, tuple[str, ...]], str | None]:
    """The partitions a validation failure rejected, per suite (`CriticalExpectationFailed`
    carries them), and its batch."""
    for cause in _chain(exc):
        rejected = getattr(cause, "rejected", None)
        if isinstance(rejected, Mapping):
            return ({str(s): tuple(str(c) for c in codes) for s, codes in rejected.items()},
                    getattr(cause, "batch_id", None))
    return {}, None


def _reason(exc: BaseException | str | None) -> str:
    """The platform's own exceptions say what failed in words written for this (a school, an
    expectation, a page: never a record's values); another library's may quote a row (a
    database error's DETAIL names the values of a key), so of those only the type goes into
    the mail, the message stays in the task's log (masked) behind the link."""
    if exc is None:
        return ""
    if isinstance(exc, BaseException):
        own = next((e for e in _chain(exc) if type(e).__module__.startswith("eduhub.")), None)
        if own is None:
            return f"{type(exc).__name__} (chi tiết trong nhật ký của tác vụ)"
        message = str(own)
        return f"{type(own).__name__}: {message}" if message else type(own).__name__
    return str(exc)


def _task_partitions(task) -> list[tuple[str, str]]:
    """The school or commune a (mapped) task ran for, from its rendered arguments:
    `sync_commune(commune_code=...)`, `sync_school(target={"school_code": ...})`."""
    try:
        kwargs = getattr(task, "op_kwargs", None)
    except Exception:  # noqa: BLE001 - an unexpanded mapped operator may refuse
        return []
    found: list[tuple[str, str]] = []

    def visit(mapping, depth: int) -> None:
        for key, value in mapping.items():
            if key in PARTITION_ARGUMENTS and isinstance(value, (str, int)):
                found.append((PARTITION_ARGUMENTS[key], str(value)))
            elif isinstance(value, Mapping) and depth < 2:
                visit(value, depth + 1)

    if isinstance(kwargs, Mapping):
        visit(kwargs, 0)
    return found


def log_url(dag_id: str, run_id: str, task_id: str, map_index: int | None = -1,
            try_number: int | None = None) -> str:
    """The task's log in the Airflow UI, under `[api] base_url` (as the Task SDK builds it)."""
    from airflow.sdk.configuration import conf

    base = conf.get("api", "base_url", fallback=None) or DEFAULT_BASE_URL
    url = f"{base.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}"
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    if try_number:
        url += f"?try_number={try_number}"
    return url


def alert_from_context(context: Mapping) -> Alert:
    """What the operators are told of a failure, from an Airflow callback's context (a task's;
    a DAG's gives the run and its reason)."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or "?"
    task_id = getattr(ti, "task_id", None)
    run_id = getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id",
                                                                              None)
    map_index = getattr(ti, "map_index", -1)
    map_index = map_index if isinstance(map_index, int) else -1
    try_number = getattr(ti, "try_number", None)
    try_number = try_number if isinstance(try_number, int) else None
    try:
        from eduhub.dag_support import run_day

        day = run_day(context).isoformat()
    except Exception:  # noqa: BLE001 - a context without a run: no day
        day = None
    exc = context.get("exception")
    rejected, batch_id = _rejected(exc if isinstance(exc, BaseException) else None)
    reason = _reason(exc) or str(context.get("reason") or "")
    task = context.get("task") or getattr(ti, "task", None)
    url = None
    if task_id and run_id:
        try:
            url = log_url(dag_id, run_id, task_id, map_index, try_number)
        except Exception:  # noqa: BLE001 - no configuration readable: no link
            url = None
    return Alert(
        dag_id=_clean(dag_id), task_id=_clean(task_id), run_id=_clean(run_id),
        dag_display_name=_clean(getattr(dag, "dag_display_name", None)),
        map_index=map_index, try_number=try_number, run_day=day,
        partitions=tuple((label, _clean(code)) for label, code in _task_partitions(task)),
        rejected={_clean(s): tuple(_clean(c) for c in codes) for s, codes in rejected.items()},
        batch_id=_clean(batch_id), reason=_clean(reason, REASON_MAX_CHARS) or "",
        log_url=_clean(url))


# --- the notifier ------------------------------------------------------------------------------

class OperatorAlert(BaseNotifier):
    """Mails an `Alert` to the operators through the SMTP connection `eduhub_smtp`.

    Without that connection, or without recipients, it logs one line and sends nothing. It
    never raises."""

    template_fields = ()

    def __init__(self, smtp_conn_id: str = settings.SMTP_CONN_ID, to: list[str] | None = None):
        super().__init__()
        self.smtp_conn_id = smtp_conn_id
        self.to = to

    def _connection_configured(self) -> bool:
        from airflow.providers.smtp.hooks.smtp import SmtpHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            SmtpHook.get_connection(self.smtp_conn_id)
        except AirflowNotFoundException:
            return False
        return True

    def notify(self, context) -> None:
        ti = context.get("ti")
        where = f"{getattr(ti, 'dag_id', '?')}/{getattr(ti, 'task_id', '?')}"
        if not self._connection_configured():
            log.info("eduhub alerts: no SMTP connection %r, no mail for the failure of %s",
                     self.smtp_conn_id, where)
            return
        to = self.to or recipients()
        if not to:
            log.warning("eduhub alerts: no recipients (%s or variable %s), no mail for the "
                        "failure of %s", ALERT_EMAILS_ENV, ALERT_EMAILS_VARIABLE, where)
            return
        alert = alert_from_context(context)
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
            smtp.send_email_smtp(
                to=to, from_email=smtp.from_email or f"eduhub@{socket.getfqdn()}",
                subject=alert.subject(), html_content=alert.html(), mime_charset="utf-8",
                custom_headers={"X-EduHub-Dag": alert.dag_id,
                                "X-EduHub-Task": alert.task_id or "",
                                "X-EduHub-Partitions": ",".join(alert.codes)[:900]})
        log.info("eduhub alerts: mailed the failure of %s to %d recipient(s)", where, len(to))

    def __call__(self, *args) -> None:
        try:
            super().__call__(*args)
        except Exception as exc:  # noqa: BLE001 - a failing mail must not hide the failure
            log.error("eduhub alerts: the alert could not be sent (%s: %s)", type(exc).__name__,
                      _clean(exc, 300))


# every task's on_failure_callback (dag_support.DEFAULT_ARGS)
notify_operators = OperatorAlert()
