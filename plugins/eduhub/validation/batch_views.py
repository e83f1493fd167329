"""The SQL views of one landed batch that GX validates (`records`, `source_counts`, a suite's
own), payload fields projected as columns."""

from __future__ import annotations

from psycopg import sql

from eduhub.validation.suites import ISO_DATE, META_COLUMNS, PARAMETERS, VN_DATE, Suite, SuiteError

_SUFFIXES = ("__json", "__number", "__date", "__type")


def _path_sql(base: sql.Composable, path: str, as_json: bool) -> sql.Composable:
    parts = path.split(".")
    op = sql.SQL("#>") if as_json else sql.SQL("#>>")
    return sql.SQL("({base} {op} {path})").format(base=base, op=op, path=sql.Literal(parts))


def projection(name: str, base: sql.Composable, columns: dict[str, dict]) -> sql.Composable:
    """The SQL expression of a column of a view, from its name (or its entry in `columns`)."""
    if name in columns:
        spec = columns[name]
        field_path, kind = spec["field"], spec.get("as", "text")
    else:
        kind = next((s[2:] for s in _SUFFIXES if name.endswith(s)), "text")
        field_path = name[: -len(kind) - 2] if kind != "text" else name
    text = _path_sql(base, field_path, as_json=False)
    if kind == "text":
        return text
    if kind == "json":
        return sql.SQL("{}::text").format(_path_sql(base, field_path, as_json=True))
    if kind == "type":
        return sql.SQL("jsonb_typeof({})").format(_path_sql(base, field_path, as_json=True))
    if kind == "number":
        return sql.SQL("case when {v} ~ {re} then ({v})::numeric end").format(
            v=text, re=sql.Literal(PARAMETERS["number"]))
    if kind == "date":
        # the date of a date or timestamp, ISO or dd/mm/yyyy; null unless a calendar date
        head = sql.SQL("left({}, 10)").format(text)
        return sql.SQL("case when {h} ~ {iso} then ({h})::date "
                       "when {h} ~ {vn} then to_date({h}, 'DD/MM/YYYY') end").format(
            h=head, iso=sql.Literal(f"^{ISO_DATE}$"), vn=sql.Literal(f"^{VN_DATE}$"))
    raise SuiteError(f"column {name!r}: unknown kind {kind!r}")


def _columns_of(expectations: list[dict]) -> list[str]:
    names: list[str] = []
    for exp in expectations:
        kw = exp["kwargs"]
        for key in ("column", "column_A", "column_B"):
            if key in kw and kw[key] not in names:
                names.append(kw[key])
        for name in kw.get("column_list", []):
            if name not in names:
                names.append(name)
    return names


def view_query(suite: Suite, view: str, batch_id: str,
               record_ids: tuple[int | None, int | None] = (None, None)) -> sql.Composable:
    """The SQL of one view of a batch; every view carries the partition of its rows.
    `record_ids`: the first and last record id the batch gave (`batch_record_ids`), by which
    its rows are found; none, when it landed nothing."""
    names = [c for c in _columns_of(suite.expectations_on(view)) if c != "partition"]
    if view == "source_counts":
        cols = [sql.Identifier(c) for c in names]
        return sql.SQL("""
            select {cols} from ops.source_counts
            where source = {src} and entity = {ent} and batch_id = {batch}""").format(
            cols=sql.SQL(", ").join([sql.Identifier("partition"), *cols]),
            src=sql.Literal(suite.source), ent=sql.Literal(suite.entity),
            batch=sql.Literal(batch_id))
    table = sql.Identifier("raw", suite.table)
    first, last = record_ids
    where = (sql.SQL("r.record_id between {f} and {l} and r.batch_id = {b} and not r.is_deleted")
             .format(f=sql.Literal(first), l=sql.Literal(last), b=sql.Literal(batch_id))
             if first is not None and last is not None else sql.SQL("false"))
    if view == "records":
        base, source_sql = sql.SQL("r.payload"), sql.SQL("{t} as r").format(t=table)
    else:
        spec = suite.views[view]
        if "unnest" in spec:
            array = _path_sql(sql.SQL("r.payload"), spec["unnest"], as_json=True)
            source_sql = sql.SQL(
                "{t} as r cross join lateral jsonb_array_elements(case when jsonb_typeof({a}) = "
                "'array' then {a} else '[]'::jsonb end) as element").format(t=table, a=array)
            base = sql.SQL("element")
        else:
            obj = _path_sql(sql.SQL("r.payload"), spec["entries"], as_json=True)
            source_sql = sql.SQL(
                "{t} as r cross join lateral jsonb_each(case when jsonb_typeof({o}) = 'object' "
                "then {o} else '{{}}'::jsonb end) as entry").format(t=table, o=obj)
            # an object's entries as {"key": ..., "value": ...}: columns `key`, `value__number`
            base = sql.SQL("jsonb_build_object('key', entry.key, 'value', entry.value)")
    projections = [sql.SQL("r.partition")]
    for name in names:
        if name in META_COLUMNS:
            expr = sql.SQL("r.{}").format(sql.Identifier(name))
        else:
            expr = projection(name, base, suite.columns)
        projections.append(sql.SQL("{e} as {n}").format(e=expr, n=sql.Identifier(name)))
    return sql.SQL("select {cols} from {src} where {where}").format(
        cols=sql.SQL(", ").join(projections), src=source_sql, where=where)
