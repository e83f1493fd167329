"""Personal IDs and secrets never reach a log, in every Airflow component.

Airflow masks the values of the connections and variables a task reads. It does not know that
any 12-digit number standing alone is a personal ID (số định danh cá nhân), nor the secrets the
platform reads from the environment (the pseudonym key, the warehouse password, ...). This
module adds both through Airflow's supported extension points only; it replaces nothing of
Airflow's (an earlier version wrapped an internal function and killed every DAG-processor child
and the triggerer):

- `[logging] logging_config_class = eduhub.log_masking.LOGGING_CONFIG` (set by `eduhub.runtime`
  and the Docker image) names a copy of Airflow's default logging configuration with one more
  filter (`MaskingFilter`) on its handlers and loggers (those Airflow keeps: it replaces the
  root logger and its default handler with its own); Airflow applies that configuration
  right after configuring structlog, and the filter's factory then adds the masking processor
  to structlog's chain through structlog's public API (a component's own events, and what
  `airflow dags test` prints of a task);
- the same module's `REMOTE_TASK_LOG`, which Airflow reads beside that dict, contributes a
  structlog processor to the write path of every supervised log: task logs (print() and
  subprocess output included), the DAG processor's file logs, the triggerer's trigger logs and
  callback logs. It uploads and reads nothing itself: when the deployment configures a remote
  log store, that store's handler is kept and does the uploading and reading;
- reading either installs a stdlib `LogRecord` factory that masks each record as it is made,
  so every library's logging is masked in every process, whatever handler or propagation a
  component configures;
- the configured secrets are also given to Airflow's own secrets masker (`mask_secret`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from urllib.parse import quote, quote_plus, unquote, urlsplit

# Numbers that identify a person, standing alone (a longer run of digits is something else),
# written as people write them: a 12-digit personal ID, whole or in groups of 3 or 4 (spaces,
# dots, dashes); a 9-digit old ID card (CMND), whole or in groups of 3; a Vietnamese mobile
# number (0 or +84, then 9 digits, grouped any way); an ID one digit short. `\d` also takes
# full-width digits.
_ID12 = r"\d{3}(?:[ .\-]?\d{3}){3}|\d{4}(?:[ .\-]?\d{4}){2}"
_CMND9 = r"\d{3}(?:[ .]?\d{3}){2}"
_PHONE = r"(?:\+84[ .\-]?|84|0)[35789]\d(?:[ .\-]?\d){7}"
# a personal ID with a digit lost in typing (schools send them: 11 digits, whole)
_ID11 = r"\d{11}"
# (not the decimals of a number: 0.123456789 s)
PERSONAL_ID_PATTERN = rf"(?<![\d+])(?<!\d[.,])(?:{_PHONE}|{_ID12}|{_ID11}|{_CMND9})(?!\d)"
PERSONAL_ID = re.compile(PERSONAL_ID_PATTERN)
MASK = "***"
# Environment variables whose values are secrets, beyond Airflow's connections.
SECRET_ENV = ("EDUHUB_PSEUDONYM_KEY", "EDUHUB_PGPASSWORD", "EDUHUB_SANDBOX_CLIENT_SECRET")
# More of them, named by the deployment (comma-separated).
EXTRA_SECRET_ENV = "EDUHUB_MASKED_ENV"
# Airflow does not mask shorter values either (they would mask ordinary words).
MIN_SECRET_LENGTH = 5


def _password_of(value: str) -> str | None:
    """The password of a connection given as JSON or as a URI (AIRFLOW_CONN_*), or of a URL."""
    value = value.strip()
    if value.startswith("{"):
        with contextlib.suppress(ValueError):
            password = json.loads(value).get("password")
            return str(password) if password else None
        return None
    with contextlib.suppress(ValueError):
        password = urlsplit(value).password
        return unquote(password) if password else None
    return None


def configured_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """The secret values the environment holds: SECRET_ENV, those named in EDUHUB_MASKED_ENV,
    the warehouse URL's password and the passwords of the AIRFLOW_CONN_* connections."""
    environ = os.environ if environ is None else environ
    names = list(SECRET_ENV) + [n.strip() for n in environ.get(EXTRA_SECRET_ENV, "").split(",")
                                if n.strip()]
    found = [environ[n] for n in names if environ.get(n)]
    for name, value in environ.items():
        if name.startswith("AIRFLOW_CONN_") or name == "EDUHUB_WAREHOUSE_URL":
            password = _password_of(value)
            if password:
                found.append(password)
    # as written in URLs too (a password with '/' or '@' shows percent-encoded there)
    found += [encoded for secret in found
              for encoded in (quote(secret, safe=""), quote_plus(secret))]
    return sorted({s for s in found if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def mask(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every personal ID and every secret replaced by ***."""
    for secret in configured_secrets() if secrets is None else secrets:
        text = text.replace(secret, MASK)
    return PERSONAL_ID.sub(MASK, text)


class MaskingFilter(logging.Filter):
    """For plain Python logging: masks the formatted message (and drops its arguments)."""

    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = configured_secrets() if secrets is None else secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _mask_value(value, secrets: list[str], depth: int = 0):
    if isinstance(value, str):
        return mask(value, secrets)
    if depth < 4 and isinstance(value, dict):
        return {k: _mask_value(v, secrets, depth + 1) for k, v in value.items()}
    if depth < 4 and type(value) in (list, tuple):
        return type(value)(_mask_value(v, secrets, depth + 1) for v in value)
    if value is None or isinstance(value, (bool, float)):
        return value
    # anything else (a number, a named tuple, an object) is rendered as its text: kept as it
    # is unless that text holds something to mask
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a value that cannot render is left to the renderer
        return value
    masked = mask(text, secrets)
    return value if masked == text else masked


def _mask_exception(exc: BaseException | None, secrets: list[str]) -> None:
    """Mask the arguments of an exception (and its causes) before a renderer formats it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        with contextlib.suppress(Exception):
            exc.args = tuple(_mask_value(a, secrets) for a in exc.args)
        exc = exc.__cause__ or exc.__context__


def masking_processor(secrets: list[str]):
    """A structlog processor masking every string of an event (message, fields, exception)."""
    def mask_event(logger, method_name, event_dict):
        exc_info = event_dict.get("exc_info")
        if exc_info:
            if exc_info is True:
                exc_info = sys.exc_info()
            _mask_exception(exc_info[1] if isinstance(exc_info, tuple) else exc_info
                            if isinstance(exc_info, BaseException) else None, secrets)
        return {k: v if k == "exc_info" else _mask_value(v, secrets)
                for k, v in event_dict.items()}

    mask_event.eduhub_masking = True
    return mask_event


_installed_secrets: list[str] | None = None


def _record_factory(previous):
    def make_record(*args, **kwargs):
        record = previous(*args, **kwargs)
        secrets = _installed_secrets or []
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is left to its handler
            return record
        masked = mask(message, secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            _mask_exception(record.exc_info[1], secrets)
        return record

    make_record.eduhub_masking = True
    return make_record


def install(airflow: bool = True) -> list[str]:
    """Mask in this process: the LogRecord factory (stdlib logging of every library) and, with
    `airflow`, Airflow's secrets masker given the configured secrets. Idempotent; returns the
    secrets."""
    global _installed_secrets
    secrets = configured_secrets()
    _installed_secrets = secrets
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "eduhub_masking", False):
        logging.setLogRecordFactory(_record_factory(factory))
    if airflow:
        with contextlib.suppress(ImportError):
            from airflow.sdk.log import mask_secret

            for secret in secrets:
                mask_secret(secret)
    return secrets


def _add_to_structlog() -> None:
    """Add the masking processor to structlog's configured chain (just before its renderer), for
    the events Airflow's components log through structlog itself: `airflow dags test` prints a
    task's events that way. Uses structlog's public configuration API; idempotent."""
    import structlog

    if not structlog.is_configured():
        return
    processors = list(structlog.get_config().get("processors", []))
    if not processors or any(getattr(p, "eduhub_masking", False) for p in processors):
        return
    processors.insert(len(processors) - 1, masking_processor(configured_secrets()))
    structlog.configure(processors=processors)


def masking_filter() -> MaskingFilter:
    """The filter factory of LOGGING_CONFIG. Airflow applies that configuration after it has
    configured structlog, so this is also where the processor joins structlog's chain."""
    _add_to_structlog()
    return MaskingFilter()


class MaskingLogIO:
    """What Airflow reads as `REMOTE_TASK_LOG`: the masking processor for the write path of
    supervised logs, and the deployment's own remote log store (if any) for upload and read."""

    def __init__(self, delegate=None):
        self.delegate = delegate

    @property
    def processors(self) -> tuple:
        own = tuple(getattr(self.delegate, "processors", ()) or ())
        return (masking_processor(configured_secrets()), *own)

    def upload(self, path, ti=None) -> None:
        if self.delegate is not None:
            self.delegate.upload(path, ti)

    def read(self, relative_path, ti):
        if self.delegate is not None:
            return self.delegate.read(relative_path, ti)
        # nothing remote: Airflow falls back on the local log files
        return [], []


def _logging_config() -> dict:
    """Airflow's default logging configuration plus the masking filter on every handler and
    logger it names (added to, never replacing, Airflow's own filters)."""
    import copy

    from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG

    config = copy.deepcopy(DEFAULT_LOGGING_CONFIG)
    config.setdefault("filters", {})["eduhub_mask"] = {"()": f"{__name__}.masking_filter"}
    for section in (config.get("handlers", {}), config.get("loggers", {})):
        for entry in section.values():
            entry["filters"] = [*entry.get("filters", []), "eduhub_mask"]
    root = config.get("root")
    if root is not None:
        root["filters"] = [*root.get("filters", []), "eduhub_mask"]
    return config


def __getattr__(name: str):
    """`LOGGING_CONFIG` and `REMOTE_TASK_LOG`, what Airflow reads when it sets up logging
    (importing this module alone touches no Airflow configuration)."""
    if name == "LOGGING_CONFIG":
        install()
        return _logging_config()
    if name == "REMOTE_TASK_LOG":
        install()
        from airflow.config_templates import airflow_local_settings

        return MaskingLogIO(getattr(airflow_local_settings, "REMOTE_TASK_LOG", None))
    if name == "DEFAULT_REMOTE_CONN_ID":
        from airflow.config_templates import airflow_local_settings

        return getattr(airflow_local_settings, "DEFAULT_REMOTE_CONN_ID", None)
    raise AttributeError(name)
