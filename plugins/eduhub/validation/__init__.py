"""Great Expectations on landed batches and on the marts: suites in `expectations/`, results in
`quality`, Data Docs in `settings.DATA_DOCS_DIR`.

A landing suite (`expectations/<source>__<entity>.json`) names the source entity it guards and
lists expectations, each critical or warning. GX runs them on *views* of one batch, each a SQL
query pushed down to PostgreSQL (nothing is pulled into memory but the outcomes):

- `records`: one row per record the batch landed (tombstones aside), payload fields projected
  as columns;
- `source_counts`: one row per partition of the batch from `ops.source_counts` (what the
  source reported against what arrived);
- a view the suite declares: one row per element of a payload array (`"unnest": "residents"`)
  or per entry of a payload object (`"entries": "scores"`).

Columns are derived from their names (see `projection`): `birth_date` is the field's text,
`birth_date__json` its JSON text (null only when the field is absent: a renamed or dropped
field), `grade__number` a number (null when malformed), `check_date__date` a date (null when
malformed or no calendar date), `residents__type` the JSON type, `request.personal_id` a
nested field; `columns` in a suite gives other names an explicit field. Regular expressions
used by many suites are GX suite parameters (`{"$PARAMETER": "iso_date"}`, see `PARAMETERS`),
as is `as_of_date`, the day the batch is validated for.

Severity: a failed critical expectation rejects the partitions of the batch holding the
unexpected rows (every partition when the expectation is not row-based): their
`ops.batches.status` becomes `rejected`, the reasons go to `ops.batch_rejections`. They stay
landed and visible. The other partitions become `validated`. Warnings are recorded and change
nothing. Fail closed: the staging models read only `validated` partitions and those an
operator `accepted` (the dbt macro `latest_version`); a batch whose validation never ran stays
out until the next run of its DAG validates it.

Personal data never leaves the warehouse through validation: failing values are neither
logged, stored nor rendered, except those of expectations that ask for it
(`"meta": {"show_values": true}`, for codes and counts). Partitions (school or commune codes)
are.

The package, by seam: `suites` (the suite files, parameters), `batch_views` (the SQL a batch
is validated through), `gx_runner` (Great Expectations, Data Docs), `results` (outcomes,
`quality`, the failure raised), `batches` (landed batches marked validated or rejected) and
`marts` (the checks of a build before it is published).
"""

from eduhub.validation.batch_views import projection, view_query
from eduhub.validation.batches import (
    accept_partitions,
    apply_batch_decisions,
    batch_record_ids,
    batch_statuses,
    mark_partitions,
    pending_batches,
    validate_batch,
    validate_sources,
)
from eduhub.validation.gx_runner import gx_paths
from eduhub.validation.marts import marts_plan, validate_marts, validate_publication
from eduhub.validation.results import (
    CriticalExpectationFailed,
    ExpectationOutcome,
    SuiteResult,
    fail_task_on_critical,
    raise_on_critical,
    summary,
)
from eduhub.validation.suites import (
    MARTS_SUITE,
    PARAMETERS,
    SEVERITIES,
    Suite,
    SuiteError,
    landing_suites,
    load_suite,
    load_suite_definition,
)

__all__ = [
    "MARTS_SUITE", "PARAMETERS", "SEVERITIES", "CriticalExpectationFailed",
    "ExpectationOutcome", "Suite", "SuiteError", "SuiteResult", "accept_partitions",
    "apply_batch_decisions", "batch_record_ids", "batch_statuses", "mark_partitions", "pending_batches",
    "fail_task_on_critical", "gx_paths", "landing_suites", "load_suite", "load_suite_definition",
    "marts_plan", "projection", "raise_on_critical", "summary", "validate_batch",
    "validate_marts", "validate_publication", "validate_sources", "view_query",
]
