"""Worklists for schools: every failing record of one school, with the learner's class and
name, through one audited door.

The published `audit.quality_failures` carries no name (only record keys); the names are in
`intermediate`, which no reader role may read. The function `worklist.school_failures(school)`
joins them for one school at a time (and `worklist.school_name(school)` gives the school's
name, no personal data). Both are `security definer`, owned by the loader group (which reads
the intermediate views and the audit tables: dbt_project.yml's grants), with a fixed search
path, and only `eduhub_provincial` may execute them (issue 18: worklists are written by the
provincial role). Before it answers, `school_failures` records the session's login
(`session_user`, not a name the caller states), when, which school and how many records in
`ops.worklist_generations`. The bodies are plpgsql, so the dbt models they read need not exist
when the warehouse is migrated.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LOADER = "eduhub_loader"
PROVINCIAL = "eduhub_provincial"

TABLES = """
create schema if not exists worklist;
alter schema worklist owner to eduhub_loader;
create table if not exists ops.worklist_generations (
    generation_id bigint generated always as identity primary key,
    generated_at timestamptz not null,
    generated_by text not null,
    school_code text not null,
    school_year text,
    term text,
    records integer not null
);
grant select, insert on ops.worklist_generations to eduhub_loader;
"""

# The rule catalogue says which field to fix; for the required-fields rule the record says which
# of them is missing. (The class-list order is the caller's: eduhub.reports.worklist.)
FUNCTION = f"""
create or replace function worklist.school_name(school text) returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
    found_name text;
begin
    select coalesce(s.school_name, s.school_code) into found_name
    from intermediate.int_schools as s where s.school_code = btrim(coalesce(school, ''))
    limit 1;
    if found_name is null then
        raise exception 'school % is not in the warehouse', quote_literal(school)
            using errcode = '22023';
    end if;
    return found_name;
end $$;
alter function worklist.school_name(text) owner to {LOADER};
revoke all on function worklist.school_name(text) from public;
grant execute on function worklist.school_name(text) to {PROVINCIAL};

create or replace function worklist.school_failures(school text)
returns table (
    rule_id text, criterion text, severity text, entity text, record_key text,
    class_name text, full_name text, date_of_birth text, moet_id text, grade integer,
    field_vi text, description_vi text, resolution_vi text, school_year text, term text
)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
#variable_conflict use_column
declare
    wanted text := btrim(coalesce(school, ''));
    listed integer;
    published_year text;
    published_term text;
begin
    perform worklist.school_name(wanted);  -- refuses a school the warehouse does not know
    return query
    select
        f.rule_id::text, f.criterion::text, f.severity::text, f.entity::text,
        f.record_key::text,
        coalesce(l.class_name, '')::text,
        coalesce(l.full_name, st.full_name, '')::text,
        coalesce(l.date_of_birth, st.date_of_birth)::text,
        coalesce(l.moet_id, st.moet_id)::text,
        l.grade::integer,
        coalesce(case
            when f.rule_id = 'DU_REQUIRED_FIELDS' and l.learner_key is not null then
                nullif(concat_ws('; ',
                    case when l.date_of_birth is null then 'Ngày sinh' end,
                    case when l.sex is null then 'Giới tính' end), '')
         end, f.field_vi)::text,
        f.description_vi::text, f.resolution_vi::text, f.school_year::text, f.term::text
    from audit.quality_failures as f
    left join intermediate.int_learners as l
        on f.entity = 'learner' and l.learner_key = f.record_key
    left join intermediate.int_staff as st
        on f.entity = 'staff' and st.staff_key = f.record_key
    where f.school_code = wanted
    order by f.record_key, f.rule_id;
    get diagnostics listed = row_count;
    select f.school_year, f.term into published_year, published_term
    from audit.quality_failures as f limit 1;
    insert into ops.worklist_generations (generated_at, generated_by, school_code, school_year,
                                          term, records)
    values (clock_timestamp(), session_user, wanted, published_year, published_term, listed);
end $$;
alter function worklist.school_failures(text) owner to {LOADER};
revoke all on function worklist.school_failures(text) from public;
grant usage on schema worklist to {PROVINCIAL};
grant execute on function worklist.school_failures(text) to {PROVINCIAL};
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTION)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
