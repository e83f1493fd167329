"""The publish gate: analysts see new marts only when the run's critical checks passed.

Blue/green over schemas. A transformation run builds the published schemas (`marts`, `audit`)
into staging schemas (`marts_next`, `audit_next`: dbt var `publish_suffix`, see
dbt_project/macros/generate_schema_name.sql) while analysts keep reading the current ones;
the marts suite then checks the staging schemas (`eduhub.validation.validate_marts`), marks
them validated, and `swap` renames them into place in one transaction. A run that fails
anywhere before the swap leaves yesterday's marts as they were.

Privileges survive the swap (issue 8's roles read `marts`): `prepare` gives each staging
schema the owner, the grants and the default privileges of the schema it will replace, so
tables dbt creates get the default grants; `swap` copies, table by table, the grants (table and
column), row-level security and policies of the old table onto its successor, and re-creates
views outside the published schemas that read the old tables, so they read the new ones.
Every step is idempotent: re-running `prepare` starts the build afresh, re-running `swap`
after it succeeded finds nothing validated to publish and changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS = ("marts", "audit")
SUFFIX = "_next"
PREVIOUS_SUFFIX = "_previous"
VALIDATED_MARK = "eduhub:validated"
_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER",
               "USAGE", "CREATE", "EXECUTE", "MAINTAIN"}
_DEFAULT_ACL_OBJECTS = {"r": "tables", "S": "sequences", "f": "functions", "T": "types",
                        "n": "schemas"}


class PublishError(RuntimeError):
    """The staging schemas cannot be published (not built, not validated, changed since)."""


@dataclass(frozen=True)
class Publication:
    run_id: str
    schemas: tuple[str, ...]
    tables: int
    published: bool


def staging_schema(schema: str) -> str:
    return schema + SUFFIX


def dbt_vars() -> dict:
    """What the transformation passes to dbt so that published schemas build into staging."""
    return {"publish_suffix": SUFFIX, "published_schemas": list(PUBLISHED_SCHEMAS)}


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s",
                        (schema,)).fetchone() is not None


# A role as SQL names it (quoted as needed), from an ACL entry's grantee oid (0 is PUBLIC).
_GRANTEE = "case when (a).grantee = 0 then 'public' else (a).grantee::regrole::text end"


def _acl(conn: psycopg.Connection, query: str, params) -> list[tuple[str, str, bool]]:
    """(grantee, privilege, grantable) of an ACL column."""
    rows = conn.execute(query.replace("{grantee}", _GRANTEE), params).fetchall()
    return [(grantee, privilege, grantable) for grantee, privilege, grantable in rows
            if privilege in _PRIVILEGES]


def _grant(privilege: str, target: sql.Composable, grantee: str, grantable: bool,
           columns: sql.Composable | None = None) -> sql.Composable:
    # `grantee` comes from regrole::text (already quoted), `privilege` from a fixed list
    return sql.SQL("grant {p}{cols} on {t} to {r}{g}").format(
        p=sql.SQL(privilege), cols=sql.SQL(" ({})").format(columns) if columns else sql.SQL(""),
        t=target, r=sql.SQL(grantee), g=sql.SQL(" with grant option" if grantable else ""))


def _copy_schema_privileges(conn: psycopg.Connection, source: str, target: str) -> None:
    owner = conn.execute("select nspowner::regrole::text from pg_namespace where nspname = %s",
                         (source,)).fetchone()[0]
    current_owner = conn.execute(
        "select nspowner::regrole::text from pg_namespace where nspname = %s",
        (target,)).fetchone()[0]
    if owner != current_owner:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("alter schema {} owner to {}").format(
                    sql.Identifier(target), sql.SQL(owner)))
        except psycopg.errors.InsufficientPrivilege:
            log.warning("schema %s: cannot give it the owner of %s (%s); grants are copied",
                        target, source, owner)
    for grantee, privilege, grantable in _acl(conn, """
            select {grantee}, (a).privilege_type, (a).is_grantable
            from (select aclexplode(nspacl) as a from pg_namespace where nspname = %s) as x""",
            (source,)):
        conn.execute(_grant(privilege, sql.SQL("schema {}").format(sql.Identifier(target)),
                            grantee, grantable))
    # default privileges live on the schema: without them, tables built later lack the grants
    for role, objtype, grantee, privilege, grantable in conn.execute(f"""
            select d.defaclrole::regrole::text, d.defaclobjtype, {_GRANTEE},
                   (a).privilege_type, (a).is_grantable
            from (select *, aclexplode(defaclacl) as a from pg_default_acl) as d
            join pg_namespace as n on n.oid = d.defaclnamespace
            where n.nspname = %s""", (source,)).fetchall():
        if privilege not in _PRIVILEGES or objtype not in _DEFAULT_ACL_OBJECTS:
            continue
        statement = sql.SQL(
            "alter default privileges for role {role} in schema {s} grant {p} on {o} to {g}{go}"
        ).format(role=sql.SQL(role), s=sql.Identifier(target), p=sql.SQL(privilege),
                 o=sql.SQL(_DEFAULT_ACL_OBJECTS[objtype]), g=sql.SQL(grantee),
                 go=sql.SQL(" with grant option" if grantable else ""))
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            log.warning("schema %s: cannot copy the default privileges of role %s", target, role)


def _readers(conn: psycopg.Connection, schema: str) -> list[str]:
    """Who may use the schema without building in it (USAGE without CREATE): its readers."""
    acl = _acl(conn, """
            select {grantee}, (a).privilege_type, (a).is_grantable
            from (select aclexplode(nspacl) as a from pg_namespace where nspname = %s) as x""",
               (schema,))
    builders = {grantee for grantee, privilege, _ in acl if privilege == "CREATE"}
    return sorted({grantee for grantee, privilege, _ in acl
                   if privilege == "USAGE" and grantee not in builders})


def _set_readers(conn: psycopg.Connection, schema: str, readers: list[str], allowed: bool
                 ) -> None:
    for reader in readers:
        conn.execute(sql.SQL("{} usage on schema {} {} {}").format(
            sql.SQL("grant" if allowed else "revoke"), sql.Identifier(schema),
            sql.SQL("to" if allowed else "from"), sql.SQL(reader)))


def prepare(conninfo: str, schemas: tuple[str, ...] = PUBLISHED_SCHEMAS) -> None:
    """Empty staging schemas, with the privileges of the schemas they will replace, except that
    no reader may use them: a build is read only once validated and swapped in."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.publish'))")
        for schema in schemas:
            staging = staging_schema(schema)
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(staging)))
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(staging)))
            if _schema_exists(conn, schema):
                _copy_schema_privileges(conn, schema, staging)
                _set_readers(conn, staging, _readers(conn, staging), allowed=False)
    log.info("publish gate: staging schemas %s ready",
             ", ".join(staging_schema(s) for s in schemas))


def fingerprint(conn: psycopg.Connection, schemas: tuple[str, ...] = PUBLISHED_SCHEMAS) -> str:
    """The relations of the staging schemas (names and object ids): dbt re-creates a table on
    each build, so a build after validation changes the fingerprint."""
    rows = conn.execute("""
        select n.nspname, c.relname, c.oid::bigint from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')
        order by 1, 2""", ([staging_schema(s) for s in schemas],)).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def mark_validated(conninfo: str, run_id: str,
                   schemas: tuple[str, ...] = PUBLISHED_SCHEMAS) -> None:
    """Record, on the staging schemas themselves, that this build passed its checks."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        mark = f"{VALIDATED_MARK} run={run_id} fingerprint={fingerprint(conn, schemas)}"
        for schema in schemas:
            conn.execute(sql.SQL("comment on schema {} is {}").format(
                sql.Identifier(staging_schema(schema)), sql.Literal(mark)))


def _validated_mark(conn: psycopg.Connection, schema: str) -> str | None:
    row = conn.execute("select obj_description(oid, 'pg_namespace') from pg_namespace "
                       "where nspname = %s", (staging_schema(schema),)).fetchone()
    return row[0] if row else None


def _copy_table_privileges(conn: psycopg.Connection, old: str, new: str) -> None:
    """Grants, column grants, row-level security and policies of each table of `old` onto the
    table of the same name in `new` (what dbt's own grants do not already give)."""
    pairs = conn.execute("""
        select o.oid::bigint, n.oid::bigint, o.relname, o.relrowsecurity, o.relforcerowsecurity
        from pg_class as o
        join pg_class as n on n.relname = o.relname and n.relkind = o.relkind
        where o.relnamespace = %s::regnamespace and n.relnamespace = %s::regnamespace
          and o.relkind in ('r', 'v', 'm', 'p')""", (old, new)).fetchall()
    for old_oid, new_oid, name, rls, force_rls in pairs:
        target = sql.Identifier(new, name)
        for grantee, privilege, grantable in _acl(conn, """
                select {grantee}, (a).privilege_type, (a).is_grantable
                from (select aclexplode(relacl) as a from pg_class where oid = %s) as x""",
                (old_oid,)):
            conn.execute(_grant(privilege, target, grantee, grantable))
        for column, grantee, privilege, grantable in conn.execute(f"""
                select attname, {_GRANTEE}, (a).privilege_type, (a).is_grantable
                from (select attname, aclexplode(attacl) as a from pg_attribute
                      where attrelid = %s and attacl is not null) as x
                where attname in (select attname from pg_attribute
                                  where attrelid = %s and not attisdropped)""",
                (old_oid, new_oid)).fetchall():
            if privilege in _PRIVILEGES:
                conn.execute(_grant(privilege, target, grantee, grantable,
                                    columns=sql.Identifier(column)))
        if rls:
            conn.execute(sql.SQL("alter table {} enable row level security").format(target))
        if force_rls:
            conn.execute(sql.SQL("alter table {} force row level security").format(target))
        existing = {r[0] for r in conn.execute(
            "select polname from pg_policy where polrelid = %s", (new_oid,))}
        for name_, cmd, permissive, roles, using, check in conn.execute("""
                select polname, polcmd, polpermissive,
                       array(select case when r = 0 then 'public' else r::regrole::text end
                             from unnest(polroles) as r),
                       pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
                from pg_policy where polrelid = %s""", (old_oid,)).fetchall():
            if name_ in existing:
                continue
            command = {"r": "select", "a": "insert", "w": "update", "d": "delete",
                       "*": "all"}[cmd]
            conn.execute(sql.SQL("create policy {n} on {t} as {p} for {c} to {r}{u}{w}").format(
                n=sql.Identifier(name_), t=target,
                p=sql.SQL("permissive" if permissive else "restrictive"), c=sql.SQL(command),
                r=sql.SQL(", ").join(sql.SQL(role) for role in roles),
                u=sql.SQL(" using ({})").format(sql.SQL(using)) if using else sql.SQL(""),
                w=sql.SQL(" with check ({})").format(sql.SQL(check)) if check else sql.SQL("")))


def _dependent_views(conn: psycopg.Connection, schemas: list[str]
                     ) -> list[tuple[str, str, str, list[str] | None]]:
    """Views outside the published schemas reading their tables: (schema, name, definition,
    options such as security_barrier or security_invoker)."""
    return conn.execute("""
        select distinct vn.nspname, v.relname, pg_get_viewdef(v.oid), v.reloptions
        from pg_depend as d
        join pg_rewrite as w on w.oid = d.objid
        join pg_class as v on v.oid = w.ev_class
        join pg_namespace as vn on vn.oid = v.relnamespace
        join pg_class as t on t.oid = d.refobjid
        join pg_namespace as tn on tn.oid = t.relnamespace
        where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
          and tn.nspname = any(%s) and not vn.nspname = any(%s) and v.oid <> t.oid""",
        (schemas, schemas)).fetchall()


def _view_option(option: str) -> sql.Composable:
    """`name=value` of pg_class.reloptions as SQL (the name an identifier, the value a
    literal)."""
    name, _, value = option.partition("=")
    return sql.SQL("{} = {}").format(sql.Identifier(name), sql.Literal(value))


def swap(conninfo: str, run_id: str, schemas: tuple[str, ...] = PUBLISHED_SCHEMAS,
         keep_previous: bool = True) -> Publication:
    """Publish the validated staging schemas, all at once; a no-op when nothing validated is
    waiting (the swap already happened). The replaced schemas stay as `<schema>_previous` until
    the next swap (a way back), unless `keep_previous` is false."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.publish'))")
        staged = [s for s in schemas if _schema_exists(conn, staging_schema(s))]
        if not staged:
            log.info("publish gate: nothing staged to publish (already swapped)")
            return Publication(run_id, (), 0, False)
        if len(staged) != len(schemas):
            missing = sorted(set(schemas) - set(staged))
            raise PublishError(f"staging schemas missing for {', '.join(missing)}: the build "
                               "did not finish; nothing was published")
        current = fingerprint(conn, schemas)
        expected = f"{VALIDATED_MARK} run={run_id} fingerprint={current}"
        marks = {s: _validated_mark(conn, s) for s in schemas}
        if any(mark != expected for mark in marks.values()):
            seen = {s: (m or "none").split(" fingerprint=")[0] for s, m in marks.items()}
            raise PublishError(f"the staging schemas were not validated as built by run "
                               f"{run_id} (marks: {seen}); nothing was published")
        dependents = _dependent_views(conn, list(schemas))
        tables = 0
        for schema in schemas:
            staging = staging_schema(schema)
            tables += conn.execute("select count(*) from pg_class where relnamespace = "
                                   "%s::regnamespace and relkind in ('r', 'v', 'm', 'p')",
                                   (staging,)).fetchone()[0]
            previous = schema + PREVIOUS_SUFFIX
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(previous)))
            readers = []
            if _schema_exists(conn, schema):
                _copy_table_privileges(conn, schema, staging)
                # the readers move with the publication: the way back is the engineers' only
                readers = _readers(conn, schema)
                _set_readers(conn, schema, readers, allowed=False)
                conn.execute(sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(schema), sql.Identifier(previous)))
            conn.execute(sql.SQL("alter schema {} rename to {}").format(
                sql.Identifier(staging), sql.Identifier(schema)))
            _set_readers(conn, schema, readers, allowed=True)
            conn.execute(sql.SQL("comment on schema {} is null").format(sql.Identifier(schema)))
        for view_schema, view, definition, options in dependents:
            # read before the renames, the definition names `marts.<table>`: re-created now, the
            # view reads the new table (it kept following the old one through the rename),
            # with its options (security_invoker, security_barrier: what keeps row security)
            conn.execute(sql.SQL("create or replace view {}{} as {}").format(
                sql.Identifier(view_schema, view),
                sql.SQL(" with ({})").format(sql.SQL(", ").join(
                    _view_option(o) for o in options)) if options else sql.SQL(""),
                sql.SQL(definition)))
        if not keep_previous:
            for schema in schemas:
                conn.execute(sql.SQL("drop schema if exists {} cascade").format(
                    sql.Identifier(schema + PREVIOUS_SUFFIX)))
        conn.execute("""
            insert into ops.publications (run_id, published_at, schemas, tables, fingerprint)
            values (%s, clock_timestamp(), %s, %s, %s)""", (run_id, list(schemas), tables,
                                                              current))
    log.info("publish gate: run %s published %s (%d relations)", run_id, ", ".join(schemas),
             tables)
    return Publication(run_id, tuple(schemas), tables, True)
