"""What the DAG match_identities runs (kept out of dags/ so it can be tested on its own)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from eduhub.identity import person

# The Airflow variable holding the pseudonym key when the environment does not. Its name holds
# one of Airflow's sensitive words ("secret"): Airflow masks its value in every log and hides
# it in the UI's Variables page.
PSEUDONYM_KEY_VARIABLE = "eduhub_pseudonym_secret"
MIN_KEY_CHARS = 16


def pseudonym_key() -> bytes:
    """EDUHUB_PSEUDONYM_KEY from the environment, else the file EDUHUB_PSEUDONYM_KEY_FILE names
    (a Docker secret, docker/compose.yml), else the Airflow variable (or a secrets backend
    behind it); never a default."""
    if not os.environ.get(person.PSEUDONYM_KEY_ENV):
        key_file = os.environ.get(person.PSEUDONYM_KEY_FILE_ENV)
        if key_file:
            return _from_file(Path(key_file))
        from airflow.sdk import Variable

        value = Variable.get(PSEUDONYM_KEY_VARIABLE, default=None)
        if value:
            return _checked(value)
    return person.pseudonym_key()


def _from_file(path: Path) -> bytes:
    """The key in a secret file (surrounding whitespace and the final newline dropped), masked
    in this task's logs like a variable's value."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeError(f"{person.PSEUDONYM_KEY_FILE_ENV} names {path}, which cannot be read "
                           f"({type(exc).__name__})") from None
    if len(value) < MIN_KEY_CHARS:
        raise RuntimeError(f"the pseudonym key file {path} must hold at least {MIN_KEY_CHARS} "
                           "characters")
    with contextlib.suppress(ImportError):
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    return value.encode("utf-8")


def _checked(value: str) -> bytes:
    if len(value) < MIN_KEY_CHARS:
        raise RuntimeError(f"the Airflow variable {PSEUDONYM_KEY_VARIABLE} must hold at least 16 "
                           "characters")
    return value.encode("utf-8")


def match(warehouse_url: str, run_id: str, full: bool, retrain: bool) -> dict:
    summary = person.build(warehouse_url, run_id, key=pseudonym_key(), full=full,
                           retrain=retrain)
    return {k: v for k, v in vars(summary).items()}
