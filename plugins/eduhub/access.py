"""Who may read what in the warehouse: the roles, kept in step by `eduhub warehouse grant`.

Group roles (NOLOGIN: people and services log in as their own roles, made members of these,
with passwords set by the database administrator, never by this project):

- `eduhub_loader`: the DAGs' role; owns `raw`, `staging`, `intermediate`, `ops`, `pii` (and
  `quality`, `access`); the login of the `eduhub_warehouse` connection is made a member.
- `eduhub_analyst`: reads `marts`, `audit` and `quality`, nothing else; the columns naming a
  person's record (`personal_columns()`, e.g. a record key holding a learner's MOET ID) only
  column by column without them.
- `eduhub_provincial`: reads every row of `marts` and `audit`.
- `eduhub_commune` and one `eduhub_commune_<code>` per commune (member of it): read `marts`
  and `audit`, row-level security showing only the rows of the units the commune manages (its
  preschool, primary and THCS schools and the commune itself: `access.commune_units`).

Table grants on models come from dbt's `grants` config (dbt_project.yml) and the row policies
from the post-hook `row_access` (dbt_project/macros/access.sql), so a mart is never readable
before its row security exists; the publish gate copies both onto each new build. What dbt
cannot express (schemas, column grants, default privileges, the commune roles and their units)
is done here, idempotently, after every swap (`transform_warehouse`'s task `publish`) and by the
demo.

The plain personal IDs behind the pseudonyms are in `vault.personal_ids`, owned by the NOLOGIN
role `eduhub_vault`: the loader writes them (the matching rewrites the table) and reads only
their keys. The one way back from a pseudonym to a personal ID is the database function
`vault.reveal(pseudonym, reason)` (`reveal`, `eduhub id reveal`), for members of
`eduhub_reidentifier` (the data engineers who help a school correct a record): it records in
`vault.reidentifications` the session's login, when and why (never the ID), and only the
vault may change that trail (migration 0004).

The identity matches the model could not decide wait in `pii.match_review_queue`, both records
side by side: members of `eduhub_reviewer` read the open items and decide them only through
`review.open_items()` and `review.decide(item, decision, reason)` (migration 0009, the
dashboard's identity page), which keep the session's login, when and why.

A school's worklist names its learners beside their failing records: only the provincial role
calls `worklist.school_failures(school)` (migration 0007, `eduhub report danh-sach-loi`), which
records the session's login, when and which school in `ops.worklist_generations`. Inspectors
(provincial, or a commune's for the schools it inspects) record a visit to a school of the
sample (the dashboard's form) only through `inspection.record_visit(...)` (migration 0008),
which keeps the session's login beside it.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from eduhub import migrations, warehouse
from eduhub.publish import PUBLISHED_SCHEMAS

log = logging.getLogger(__name__)

LOADER = "eduhub_loader"
ANALYST = "eduhub_analyst"
PROVINCIAL = "eduhub_provincial"
COMMUNE = "eduhub_commune"
# Created by the migrations (eduhub/migrations); the names dbt_project.yml's grants name.
# the owner of the plain IDs and of the re-identification trail, and who may re-identify
VAULT = "eduhub_vault"
REIDENTIFIER = "eduhub_reidentifier"
# who decides the identity matches the model could not (migration 0009)
REVIEWER = "eduhub_reviewer"
# who decides the batches validation rejected (migration 0010)
OPERATOR = "eduhub_operator"
GROUP_ROLES = (LOADER, ANALYST, PROVINCIAL, COMMUNE, VAULT, REIDENTIFIER, REVIEWER, OPERATOR)
READER_ROLES = (ANALYST, PROVINCIAL, COMMUNE)
COMMUNE_ROLE_PREFIX = "eduhub_commune_"

LOADER_SCHEMAS = ("raw", "staging", "intermediate", "ops", "pii", "quality", "access")


@functools.cache
def personal_columns() -> frozenset[str]:
    """Columns that name a person's record (a key holding a MOET ID, a resident id, a personal
    ID): tables carrying one are given to the analyst column by column, without them. Listed
    once, as the dbt var `personal_columns` that the macro row_access reads."""
    import yaml

    from eduhub import settings

    project = yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text("utf-8"))
    return frozenset(project["vars"]["personal_columns"])


_PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
MIN_REASON_LENGTH = 10


@dataclass
class GrantSummary:
    roles_created: list[str] = field(default_factory=list)
    commune_roles: int = 0
    commune_units: int = 0
    analyst_tables: int = 0
    analyst_column_tables: list[str] = field(default_factory=list)
    refused_tables: list[str] = field(default_factory=list)  # no row security: nobody reads


def commune_role(commune_code: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z]+", commune_code or ""):
        raise ValueError(f"not a commune code: {commune_code!r}")
    return COMMUNE_ROLE_PREFIX + commune_code


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def _ensure_commune_role(conn: psycopg.Connection, role: str, summary: GrantSummary) -> None:
    if not _role_exists(conn, role):
        conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
        summary.roles_created.append(role)
    else:
        # a commune role is a group of its people, never a login, whoever changed it
        conn.execute(sql.SQL("alter role {} nologin").format(sql.Identifier(role)))


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _tables(conn: psycopg.Connection, schema: str) -> list[tuple[str, bool, list[str]]]:
    """(table, row security on, columns) of the tables of a schema."""
    return conn.execute("""
        select c.relname, c.relrowsecurity,
               array(select a.attname from pg_attribute as a where a.attrelid = c.oid
                     and a.attnum > 0 and not a.attisdropped order by a.attnum)
        from pg_class as c where c.relnamespace = %s::regnamespace and c.relkind in ('r', 'p')
        order by 1""", (schema,)).fetchall()


def _views_without_invoker_rights(conn: psycopg.Connection, schema: str) -> list[str]:
    """Views and materialized views of a schema that do not run with the reader's rights."""
    return [r[0] for r in conn.execute("""
        select c.relname from pg_class as c
        where c.relnamespace = %s::regnamespace and c.relkind in ('v', 'm')
          and not (c.relkind = 'v' and exists (
                select 1 from unnest(c.reloptions) as o
                where lower(o) in ('security_invoker=true', 'security_invoker=on',
                                   'security_invoker=yes', 'security_invoker=1')))
        order by 1""", (schema,))]


def _loader(conn: psycopg.Connection) -> None:
    user, superuser = conn.execute(
        "select current_user, rolsuper from pg_roles where rolname = current_user").fetchone()
    if not superuser and not conn.execute(
            "select pg_has_role(current_user, %s, 'MEMBER')", (LOADER,)).fetchone()[0]:
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(LOADER),
                                                      sql.Identifier(user)))
    for schema in LOADER_SCHEMAS:
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("alter schema {} owner to {}").format(s, sql.Identifier(LOADER)))
        conn.execute(sql.SQL("grant all on all tables in schema {} to {}").format(
            s, sql.Identifier(LOADER)))
        conn.execute(sql.SQL("grant all on all sequences in schema {} to {}").format(
            s, sql.Identifier(LOADER)))
    for schema in PUBLISHED_SCHEMAS:
        conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(
            sql.Identifier(schema), sql.Identifier(LOADER)))


def _vault(conn: psycopg.Connection) -> None:
    """The door, whatever was granted by hand: the loader writes the plain IDs and reads their
    keys; only the vault reads them, and changes the trail; re-identifiers call reveal. Kept
    by the database administrator's `eduhub warehouse grant` (the loader's login, which runs
    the grants after each swap, may not administer the vault: it leaves it as it is)."""
    if not conn.execute("select pg_has_role(current_user, %s, 'MEMBER')", (VAULT,)).fetchone()[0]:
        return
    loader, vault = sql.Identifier(LOADER), sql.Identifier(VAULT)
    others = sql.SQL(", ").join(sql.Identifier(r) for r in (LOADER, REIDENTIFIER, *READER_ROLES))
    conn.execute(sql.SQL("alter schema vault owner to {}").format(vault))
    for table in ("vault.personal_ids", "vault.reidentifications"):
        conn.execute(sql.SQL("alter table {} owner to {}").format(
            sql.Identifier(*table.split(".")), vault))
    conn.execute(sql.SQL("alter function vault.reveal(text, text) owner to {}").format(vault))
    conn.execute(sql.SQL("revoke all on schema vault from public, {}").format(others))
    conn.execute(sql.SQL("revoke all on all tables in schema vault from public, {}").format(
        others))
    conn.execute(sql.SQL("revoke all on all functions in schema vault from public, {}").format(
        others))
    conn.execute(sql.SQL("grant usage on schema vault to {}, {}").format(
        loader, sql.Identifier(REIDENTIFIER)))
    conn.execute(sql.SQL("grant insert, delete on vault.personal_ids to {}").format(loader))
    conn.execute(sql.SQL("grant select (person_id, id_pseudonym) on vault.personal_ids to {}")
                 .format(loader))
    conn.execute(sql.SQL("grant execute on function vault.reveal(text, text) to {}").format(
        sql.Identifier(REIDENTIFIER)))
    conn.execute(sql.SQL("grant select on vault.reidentifications to {}").format(
        sql.Identifier(REIDENTIFIER)))


# the schools' worklists' door (migration 0007): the loader's rights, the provincial role's call
# The audited doors of the migrations, and who passes each: a school's worklist (0007) only
# the provincial role; an inspection visit recorded (0008) the provincial and commune roles
# (the function itself keeps a commune to the schools it inspects); the identity review
# queue read and decided (0009) the reviewers; the rejected batches and quarantine counts read
# and the batches decided (0010) the operators.
# schema -> (its functions, the roles that execute them)
DOORS = {
    "worklist": (("worklist.school_name(text)", "worklist.school_failures(text)"),
                 (PROVINCIAL,)),
    "inspection": (("inspection.record_visit(text, text, date, text, text, date)",),
                   (PROVINCIAL, COMMUNE)),
    "review": (("review.open_items()", "review.decide(text, text, text)"), (REVIEWER,)),
    "operations": (("operations.rejected_partitions()", "operations.quarantine_counts()",
                    "operations.decide_batch(text, text, text, text, text, text)"), (OPERATOR,)),
}


def _doors(conn: psycopg.Connection) -> None:
    """Only the roles named above call the doors, whatever was granted by hand."""
    loader = sql.Identifier(LOADER)
    for schema, (functions, callers) in DOORS.items():
        if not conn.execute("select 1 from pg_namespace where nspname = %s",
                            (schema,)).fetchone():
            continue
        allowed = sql.SQL(", ").join(sql.Identifier(r) for r in callers)
        others = sql.SQL(", ").join(sql.Identifier(r) for r in (ANALYST, PROVINCIAL, COMMUNE,
                                                                REIDENTIFIER, REVIEWER,
                                                                OPERATOR)
                                    if r not in callers)
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("alter schema {} owner to {}").format(s, loader))
        conn.execute(sql.SQL("revoke all on schema {} from public, {}").format(s, others))
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, allowed))
        for function in functions:
            f = sql.SQL(function)  # a constant of this module
            conn.execute(sql.SQL("alter function {} owner to {}").format(f, loader))
            conn.execute(sql.SQL("revoke all on function {} from public, {}").format(f, others))
            conn.execute(sql.SQL("grant execute on function {} to {}").format(f, allowed))


def _readers(conn: psycopg.Connection, summary: GrantSummary) -> None:
    readers = sql.SQL(", ").join(sql.Identifier(r) for r in READER_ROLES)
    # nothing of the loader's schemas for the readers (whatever was granted by hand before);
    # `quality` is the analyst's, `access` only the commune tables the row policies read
    for schema in LOADER_SCHEMAS:
        conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(
            sql.Identifier(schema), readers))
        conn.execute(sql.SQL("revoke all on schema {} from public, {}").format(
            sql.Identifier(schema), readers))
    conn.execute(sql.SQL("grant usage on schema quality to {}").format(sql.Identifier(ANALYST)))
    conn.execute(sql.SQL("grant select on all tables in schema quality to {}").format(
        sql.Identifier(ANALYST)))
    # tables the validation creates later in quality
    for owner in {LOADER, conn.execute("select current_user").fetchone()[0]}:
        conn.execute(sql.SQL("alter default privileges for role {} in schema quality "
                             "grant select on tables to {}").format(
            sql.Identifier(owner), sql.Identifier(ANALYST)))
    conn.execute(sql.SQL("grant usage on schema access to {}").format(sql.Identifier(COMMUNE)))
    conn.execute(sql.SQL("grant select on access.commune_roles, access.commune_units to {}")
                 .format(sql.Identifier(COMMUNE)))

    if conn.execute("select 1 from pg_namespace where nspname = 'reference'").fetchone():
        # the seeds: public reference data, readable as dbt's grants say (dbt_project.yml)
        conn.execute(sql.SQL("grant usage on schema reference to {}").format(readers))
    for schema in PUBLISHED_SCHEMAS:
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(s, readers))
        for table, row_security, columns in _tables(conn, schema):
            t = sql.Identifier(schema, table)
            if not row_security:
                # built without its row policies (not by dbt, or before them): fail closed
                conn.execute(sql.SQL("revoke all on {} from {}").format(t, readers))
                summary.refused_tables.append(f"{schema}.{table}")
                log.warning("%s.%s has no row-level security: no reader role may read it; "
                            "rebuild it with dbt", schema, table)
                continue
            personal = [c for c in columns if c in personal_columns()]
            if personal:
                conn.execute(sql.SQL("revoke select on {} from {}").format(
                    t, sql.Identifier(ANALYST)))
                conn.execute(sql.SQL("grant select ({}) on {} to {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns if c not in personal),
                    t, sql.Identifier(ANALYST)))
                summary.analyst_column_tables.append(f"{schema}.{table}")
            else:
                conn.execute(sql.SQL("grant select on {} to {}").format(
                    t, sql.Identifier(ANALYST)))
            summary.analyst_tables += 1
        for view in _views_without_invoker_rights(conn, schema):
            # a view reads its tables with its owner's rights, past their row policies:
            # readable only when it runs with the reader's (security_invoker)
            conn.execute(sql.SQL("revoke all on {} from {}").format(
                sql.Identifier(schema, view), readers))
            summary.refused_tables.append(f"{schema}.{view}")
            log.warning("%s.%s is a view without security_invoker: no reader role may read "
                        "it (it would read past the row policies)", schema, view)


def _communes(conn: psycopg.Connection, communes: list[str] | None,
              summary: GrantSummary) -> None:
    if communes is None:
        communes = ([r[0] for r in conn.execute(
            "select distinct commune_code::text from reference.communes order by 1")]
            if _exists(conn, "reference.communes") else [])
    roles = {commune_role(code): code for code in communes}
    for role in roles:
        _ensure_commune_role(conn, role, summary)
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(COMMUNE),
                                                      sql.Identifier(role)))
    conn.execute("delete from access.commune_roles where not role_name = any(%s)",
                 (list(roles),))
    with conn.cursor() as cur:
        cur.executemany("""
            insert into access.commune_roles (role_name, commune_code) values (%s, %s)
            on conflict (role_name) do update set commune_code = excluded.commune_code""",
                        list(roles.items()))
    summary.commune_roles = len(roles)

    # the units each commune manages: itself, and the schools whose managing unit it is
    conn.execute("delete from access.commune_units")
    conn.execute("""
        insert into access.commune_units (commune_code, unit_code)
        select commune_code, commune_code from access.commune_roles
        on conflict do nothing""")
    # the schools the sources report, and the registry's units (a silent school is its
    # commune's though it sends nothing): (relation, its school code column)
    for relation, code in (("intermediate.int_schools", "school_code"),
                           ("staging.stg_school_registry__units", "unit_code")):
        if _exists(conn, relation):
            conn.execute(sql.SQL("""
                insert into access.commune_units (commune_code, unit_code)
                select distinct schools.managing_unit, schools.{code}
                from {relation} as schools
                inner join access.commune_roles as communes
                    on communes.commune_code = schools.managing_unit
                where schools.{code} is not null
                on conflict do nothing""").format(
                code=sql.Identifier(code), relation=sql.Identifier(*relation.split("."))))
    summary.commune_units = conn.execute("select count(*) from access.commune_units"
                                         ).fetchone()[0]


def grant(conninfo: str | None = None, communes: list[str] | None = None) -> GrantSummary:
    """Create the roles that are missing and bring every privilege in line, in one transaction.
    `communes`: the commune codes to give a role (default: every commune of reference.communes).
    Idempotent: a second run changes nothing."""
    summary = GrantSummary()
    migrations.upgrade(conninfo)  # the group roles and the access tables
    with warehouse.connect(conninfo) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.access'))")
        for role in GROUP_ROLES:
            # a group role is never a login, whoever changed it
            conn.execute(sql.SQL("alter role {} nologin").format(sql.Identifier(role)))
        _loader(conn)
        _vault(conn)
        _doors(conn)
        _communes(conn, communes, summary)
        _readers(conn, summary)
    log.info("access: roles in step (%d created; %d commune roles, %d units; analyst reads %d "
             "tables, %d without their personal columns; %d refused without row security)",
             len(summary.roles_created), summary.commune_roles, summary.commune_units,
             summary.analyst_tables, len(summary.analyst_column_tables),
             len(summary.refused_tables))
    return summary


class ReidentificationRefused(ValueError):
    """A re-identification request that is not acceptable (no reason, not a pseudonym)."""


def reveal(pseudonym: str, reason: str, conninfo: str | None = None) -> str | None:
    """The personal ID behind a pseudonym, for the data engineer who must help a school correct
    a record, through the database's door `vault.reveal`: it records the login of this
    connection (the session's role, whatever the caller says), when and why in
    vault.reidentifications before it answers, and the login must be a member of
    eduhub_reidentifier. The ID itself is never logged or stored there. None if no person has
    that pseudonym."""
    pseudonym = (pseudonym or "").strip().lower()
    reason = " ".join((reason or "").split())
    if not _PSEUDONYM.match(pseudonym):
        raise ReidentificationRefused("không phải bút danh: cần 64 ký tự hex (HMAC-SHA256)")
    if len(reason) < MIN_REASON_LENGTH:
        raise ReidentificationRefused(
            f"cần ghi lý do (ít nhất {MIN_REASON_LENGTH} ký tự), ví dụ số văn bản đề nghị của "
            "trường")
    try:
        with warehouse.connect(conninfo) as conn, conn.transaction():
            user = conn.execute("select session_user").fetchone()[0]
            personal_id = conn.execute("select vault.reveal(%s, %s)",
                                       (pseudonym, reason)).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ReidentificationRefused(
            f"tài khoản {user} không được tra cứu số định danh: cần là thành viên của vai trò "
            f"{REIDENTIFIER}") from exc
    log.info("re-identification of pseudonym %s… by %s: %s, recorded in "
             "vault.reidentifications", pseudonym[:12], user,
             "found" if personal_id else "not found")
    return personal_id
