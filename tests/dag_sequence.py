"""`airflow dags test` of several DAG runs, one after the other, in one Airflow process.

    python tests/dag_sequence.py DAG_ID LOGICAL_DATE [DAG_ID LOGICAL_DATE ...]

Each run goes through the CLI's own `dags test` command (the same function, arguments and
logging as `airflow dags test DAG_ID LOGICAL_DATE`), so what a run does is what the command
does. Only the process is shared: Airflow's import, its in-process execution API and Great
Expectations' import are paid once for the sequence rather than once per run (about 25 s of
CPU each on the 2-core machine, most of a small DAG's run). A failed run does not stop the
sequence: each run ends with a line `@@dag-run <dag_id> <logical_date> <exit code>`, and the
process exits with the first non-zero code (conftest.dags_test reads them).
"""

from __future__ import annotations

import sys

MARK = "@@dag-run"


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 2:
        print(__doc__, file=sys.stderr)
        return 2
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    first_failure = 0
    for dag_id, logical_date in zip(argv[::2], argv[1::2], strict=True):
        args = parser.parse_args(["dags", "test", dag_id, logical_date])
        try:
            args.func(args)
            code = 0
        except SystemExit as stop:  # `dags test` exits with "DagRun failed"
            code = stop.code if isinstance(stop.code, int) else 1
            print(stop.code, file=sys.stderr, flush=True)
        sys.stderr.flush()
        print(f"\n{MARK} {dag_id} {logical_date} {code}", flush=True)
        first_failure = first_failure or code
    return first_failure


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
