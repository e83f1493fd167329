"""A day of the platform under the real scheduler, as the Sở runs it: used by `make demo`,
`eduhub up` and the live tests.

The daily DAGs are unpaused and left to their schedules and assets: with catch-up off, the
scheduler creates each sync's run for its latest slot at once (today 00:30 and 01:00); the
school landing starts `transform_warehouse`, whose published persons start the population
verification, whose answers start the matching, whose persons start the second transform.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eduhub.airflow_services import FINISHED, AirflowServices

SYNC_DAGS = ("sync_school_management", "sync_pcgd")
DAILY_DAGS = (*SYNC_DAGS, "transform_warehouse", "sync_population",
              "match_identities", "publish_reports")
# Retention (monthly) and the inspection freeze (daily check of the calendar's freeze date):
# unpaused by `eduhub up`, not by a demo day.
PERIODIC_DAGS = ("purge_raw_payloads", "freeze_inspection_sample")
ALL_DAGS = (*DAILY_DAGS, *PERIODIC_DAGS)
# What a day runs at least once each when every source answers, on a warehouse that has new
# persons to verify (a first day): the verification starts the matching, and the matching the
# second transformation.
A_DAY = {"sync_school_management": 1, "sync_pcgd": 1,
         "transform_warehouse": 2, "sync_population": 1, "match_identities": 1,
         "publish_reports": 1}
# What any day runs: when nobody new waits for verification, the verification run has nothing
# to ask and emits nothing, and the chain ends there.
ANY_DAY = {"sync_school_management": 1, "sync_pcgd": 1, "transform_warehouse": 1,
           "sync_population": 1, "publish_reports": 1}


class ProgressPrinter:
    """One console line per run that starts or finishes: which DAG, what state, how long, and
    how many tasks (mapped tasks counted), instead of Airflow's own log lines."""

    def __init__(self, services: AirflowServices, write: Callable[[str], None] = print):
        self.services = services
        self.write = write
        self.seen: dict[tuple[str, str], str] = {}

    def __call__(self, runs: list[dict]) -> None:
        for run in runs:
            key = (run["dag_id"], run["run_id"])
            if self.seen.get(key) == run["state"]:
                continue
            self.seen[key] = run["state"]
            tasks = self.services.task_instances(*key)
            counts: dict[str, int] = {}
            for task in tasks:
                counts[task["state"] or "none"] = counts.get(task["state"] or "none", 0) + 1
            took = ""
            if run["state"] in FINISHED and run["start_date"] and run["end_date"]:
                took = f" in {(run['end_date'] - run['start_date']).total_seconds():.0f} s"
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            trigger = {"scheduled": "lịch", "asset_triggered": "dữ liệu mới",
                       "manual": "thủ công", "backfill": "chạy bù"}.get(run["run_type"],
                                                                       run["run_type"])
            self.write(f"    {time.strftime('%H:%M:%S')} {run['dag_id']:<30} {run['state']:<8}"
                       f"{took} ({trigger}; tasks: {detail or '-'})")


def run_day(services: AirflowServices, dags=DAILY_DAGS, expected=None, timeout: float = 2400,
            write: Callable[[str], None] = print, settle: float = 20) -> list[dict]:
    """Unpause the daily DAGs and wait until the day's chain has run and gone quiet (no run
    started for `settle` seconds once the `expected` runs have finished)."""
    services.wait_dags_registered(ALL_DAGS)
    services.unpause(dags)
    return services.wait_quiet(dags, expected=A_DAY if expected is None else expected,
                               timeout=timeout, settle=settle,
                               progress=ProgressPrinter(services, write))


# How long the failing day may take before the scheduler creates the next one (it waits for
# the failed run: one active run per DAG). A slot boundary inside this window would make the
# scheduler skip a day, catch-up being off.
BOUNDARY_MARGIN = timedelta(minutes=10)


def clear_of_boundary(latest_slots, now: datetime, margin: timedelta) -> bool:
    """Whether the next slot of every daily schedule (a day after its latest) is more than
    `margin` ahead of `now`."""
    return all(now + margin < slot + timedelta(days=1) for slot in latest_slots)


def settled_slots(services: AirflowServices, dag_ids, margin: timedelta = BOUNDARY_MARGIN,
                  timeout: float = 1200) -> dict:
    """Each daily DAG's latest slot (`next_dagrun` with catch-up off), read when the next slot
    is more than `margin` away: near a boundary, wait until it has passed and the DAG processor
    has moved `next_dagrun` on, so that the slot read is still the latest when the runs start."""
    deadline = time.monotonic() + timeout
    while True:
        with services.metadata() as conn:
            slots = dict(conn.execute(
                "select dag_id, next_dagrun from dag where dag_id = any(%s)",
                (list(dag_ids),)).fetchall())
        now = datetime.now(UTC)
        if len(slots) == len(set(dag_ids)) and clear_of_boundary(slots.values(), now, margin):
            return slots
        if time.monotonic() > deadline:
            raise TimeoutError(f"the DAGs' next slots did not move past {now:%H:%M} UTC: {slots}")
        time.sleep(10)


def start_with_yesterday(services: AirflowServices, dag_ids) -> None:
    """Trigger by hand, before the DAGs are unpaused, the slot one day before each DAG's
    latest (the one the scheduler runs first when catch-up is off): it runs first, then the
    scheduler creates the latest, the next scheduled day (tests: a day that fails, then the
    one that recovers; right at any hour, midnight to the slot included)."""
    slots = settled_slots(services, dag_ids)
    for dag_id in dag_ids:
        services.trigger(dag_id, logical_date=(slots[dag_id] - timedelta(days=1)).isoformat())
    # the scheduler starts queued runs in the order they were due (`run_after`): a manual run
    # is due when triggered, after today's slot, so it is made due on its own day
    with services.metadata() as conn:
        conn.execute("update dag_run set run_after = logical_date where dag_id = any(%s)"
                     " and run_type = 'manual' and state = 'queued'", (list(dag_ids),))
