"""Personal IDs and secrets never reach a log: a masking step in Airflow's logging.

Airflow masks the values of the connections and variables a task reads (in supervised task
runs; `airflow dags test` masks nothing). It does not know that any 12-digit number standing
alone is a personal ID (số định danh cá nhân), nor the secrets the platform reads from the
environment (the pseudonym key, the warehouse password, ...). This module masks both, in every
process that configures Airflow's logging:

- `LOGGING_CONFIG` is Airflow's default logging configuration; `eduhub.runtime` points
  `[logging] logging_config_class` at it (AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS), so Airflow
  reads it when it sets up logging: the scheduler, workers and the task supervisor,
  and `airflow dags test`;
- reading `LOGGING_CONFIG` adds a structlog processor masking the ID pattern and the
  configured secrets to the processors Airflow builds its logging from (its core copy, used by
  the CLI, the scheduler and `airflow dags test`, and the Task SDK's, which writes the task log
  files, print() and subprocess output included); stdlib logging goes through them too.

`MaskingFilter` does the same for plain Python logging outside Airflow (the CLI).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import sys
from urllib.parse import unquote, urlsplit

# 12 digits standing alone: a personal ID (13 or more digits are something else).
PERSONAL_ID_PATTERN = r"(?<![0-9])[0-9]{12}(?![0-9])"
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


def install() -> list[str]:
    """Add the masking processor to the processors Airflow gives structlog (both copies of
    Airflow's logging setup: the core one of the CLI, scheduler and `dags test`, and the Task
    SDK's, which writes the task log files). Idempotent; returns the modules patched."""
    processor = masking_processor(configured_secrets())
    patched = []
    for module_name in ("airflow._shared.logging.structlog",
                        "airflow.sdk._shared.logging.structlog"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = module.structlog_processors
        if not getattr(original, "eduhub_masking", False):
            def with_masking(*args, _original=original, **kwargs):
                shared, *rest = _original(*args, **kwargs)
                # last of the shared chain: after the message is formatted with its arguments
                return (list(shared) + [processor], *rest)

            with_masking.eduhub_masking = True
            module.structlog_processors = with_masking
        patched.append(module_name)
    return patched


def __getattr__(name: str):
    """`LOGGING_CONFIG`, what AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS names: Airflow's own
    configuration (its handlers already carry the masker as their filter), with the masker
    armed when Airflow asks for it (importing this module alone changes nothing)."""
    if name != "LOGGING_CONFIG":
        raise AttributeError(name)
    from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG

    install()
    return DEFAULT_LOGGING_CONFIG
