"""What the DAG match_identities runs (kept out of dags/ so it can be tested on its own)."""

from __future__ import annotations

import os

from eduhub.identity import person

# The Airflow variable holding the pseudonym key when the environment does not.
PSEUDONYM_KEY_VARIABLE = "eduhub_pseudonym_key"


def pseudonym_key() -> bytes:
    """EDUHUB_PSEUDONYM_KEY from the environment, else the Airflow variable (or a secrets
    backend behind it); never a default."""
    if not os.environ.get(person.PSEUDONYM_KEY_ENV):
        from airflow.sdk import Variable

        value = Variable.get(PSEUDONYM_KEY_VARIABLE, default=None)
        if value:
            return _checked(value)
    return person.pseudonym_key()


def _checked(value: str) -> bytes:
    if len(value) < 16:
        raise RuntimeError(f"the Airflow variable {PSEUDONYM_KEY_VARIABLE} must hold at least 16 "
                           "characters")
    return value.encode("utf-8")


def match(warehouse_url: str, run_id: str, full: bool, retrain: bool) -> dict:
    summary = person.build(warehouse_url, run_id, key=pseudonym_key(), full=full,
                           retrain=retrain)
    return {k: v for k, v in vars(summary).items()}
