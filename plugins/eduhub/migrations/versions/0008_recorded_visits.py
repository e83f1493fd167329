"""Inspection visits recorded by the inspectors themselves (the dashboard's form, issue 19),
through one door that says who recorded them.

`inspection.record_visit(...)` is `security definer`, owned by the loader group (which owns
`ops` and reads the published sample: dbt_project.yml's grants), with a fixed search path. The
Sở's inspectors (`eduhub_provincial`) record any school of the sample; a commune's
(`eduhub_commune_<code>`) only the schools that commune inspects (the sample's
`inspecting_authority`). It refuses a school outside the year's published sample, a visit
without its date and a follow-up due before the visit, and keeps the session's login
(`session_user`, not a name the caller states) and the time in `recorded_by`/`recorded_at`.
A second record of the same school and year replaces the first (one visit per school and
year, the table's key), so a corrected form is not a second visit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LOADER = "eduhub_loader"
PROVINCIAL = "eduhub_provincial"
COMMUNE = "eduhub_commune"

TABLES = f"""
alter table ops.inspection_visits
    add column if not exists recorded_by text,
    add column if not exists recorded_at timestamptz;
create schema if not exists inspection;
alter schema inspection owner to {LOADER};
"""

FUNCTION = f"""
create or replace function inspection.record_visit(
    visit_year text, school text, visit_date date, findings text, follow_up text,
    follow_up_by date
) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    authority text;
begin
    select s.inspecting_authority into authority from marts.inspection_sample as s
    where s.school_year = visit_year and s.school_code = school;
    if not found then
        raise exception 'trường % không thuộc danh sách kiểm tra năm học %',
            quote_literal(school), quote_literal(visit_year) using errcode = '22023';
    end if;
    -- the Sở's inspectors record every school; a commune's, the schools it inspects
    if not pg_has_role(session_user, '{PROVINCIAL}', 'MEMBER') and not exists (
        select 1 from access.commune_roles as c
        where c.commune_code = authority and pg_has_role(session_user, c.role_name, 'MEMBER')
    ) then
        raise exception 'tài khoản % không kiểm tra trường % (đơn vị kiểm tra: %)',
            session_user, quote_literal(school), authority using errcode = '42501';
    end if;
    if visit_date is null then
        raise exception 'thiếu ngày kiểm tra' using errcode = '22023';
    end if;
    if follow_up_by is not null and follow_up_by < visit_date then
        raise exception 'hạn khắc phục (%) trước ngày kiểm tra (%)', follow_up_by, visit_date
            using errcode = '22023';
    end if;
    insert into ops.inspection_visits as v (
        school_year, school_code, visit_status, visited_on, findings_vi, follow_up_vi,
        follow_up_due, updated_at, recorded_by, recorded_at)
    values (visit_year, school, 'da_kiem_tra', visit_date,
            nullif(btrim(normalize(coalesce(findings, ''), nfc)), ''),
            nullif(btrim(normalize(coalesce(follow_up, ''), nfc)), ''),
            follow_up_by, clock_timestamp(), session_user, clock_timestamp())
    on conflict (school_year, school_code) do update set
        visit_status = excluded.visit_status, visited_on = excluded.visited_on,
        findings_vi = excluded.findings_vi, follow_up_vi = excluded.follow_up_vi,
        follow_up_due = excluded.follow_up_due, updated_at = excluded.updated_at,
        recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at;
end $$;
alter function inspection.record_visit(text, text, date, text, text, date) owner to {LOADER};
revoke all on function inspection.record_visit(text, text, date, text, text, date) from public;
grant usage on schema inspection to {PROVINCIAL}, {COMMUNE};
grant execute on function inspection.record_visit(text, text, date, text, text, date)
    to {PROVINCIAL}, {COMMUNE};
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTION)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
