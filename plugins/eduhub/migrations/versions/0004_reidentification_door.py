"""Re-identification only through an audited door.

The plain personal IDs of the persons move out of `pii.persons` (the loader's) into
`vault.personal_ids`, owned by the NOLOGIN role `eduhub_vault`. The loader may write that
table (insert, delete: the matching rewrites it) and read its keys, never the IDs. The one way
to read an ID is the function `vault.reveal(pseudonym, reason)`, executable only by
`eduhub_reidentifier` (the data engineers' group): it records the session's login (the
database's `session_user`, not a name the caller states), when and why in
`vault.reidentifications`, which no role but its owner may change. The earlier audit trail,
`ops.reidentifications`, moves there too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VAULT = "eduhub_vault"
REIDENTIFIER = "eduhub_reidentifier"
LOADER = "eduhub_loader"
MIN_REASON_LENGTH = 10  # as access.MIN_REASON_LENGTH: the database enforces it too

ROLES = f"""
do $$
declare
    group_role text;
begin
    foreach group_role in array array['{VAULT}', '{REIDENTIFIER}'] loop
        if not exists (select 1 from pg_roles where rolname = group_role) then
            execute format('create role %I nologin', group_role);
        end if;
    end loop;
end $$;
"""

TABLES = f"""
create schema if not exists vault authorization {VAULT};
create table if not exists vault.personal_ids (
    person_id text primary key,
    personal_id text not null,
    id_pseudonym text not null
);
create index if not exists personal_ids_pseudonym on vault.personal_ids (id_pseudonym);
create table if not exists vault.reidentifications (
    reidentification_id bigint generated always as identity primary key,
    requested_at timestamptz not null,
    requested_by text not null,
    pseudonym text not null,
    reason text not null,
    found boolean not null,
    person_id text
);
alter table vault.personal_ids owner to {VAULT};
alter table vault.reidentifications owner to {VAULT};
"""

# the plain IDs and the earlier audit trail, moved (a warehouse of an earlier revision)
MOVE = """
do $$
begin
    if exists (select 1 from information_schema.columns where table_schema = 'pii'
               and table_name = 'persons' and column_name = 'personal_id') then
        insert into vault.personal_ids (person_id, personal_id, id_pseudonym)
        select person_id, personal_id, id_pseudonym from pii.persons
        where personal_id is not null and id_pseudonym is not null
        on conflict (person_id) do nothing;
        alter table pii.persons drop column personal_id;
    end if;
    if to_regclass('ops.reidentifications') is not null then
        insert into vault.reidentifications (requested_at, requested_by, pseudonym, reason,
                                             found, person_id)
        select r.requested_at, r.database_user, r.pseudonym,
               r.reason || ' (ghi nhận trước đây, người yêu cầu khai: ' || r.requested_by || ')',
               r.found, r.person_id
        from ops.reidentifications as r order by r.reidentification_id;
        drop table ops.reidentifications;
    end if;
end $$;
"""

# security definer: runs with the vault's rights; the search path fixed so that no caller's
# object can stand in for one of the function's
REVEAL = f"""
create or replace function vault.reveal(pseudonym text, reason text) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    wanted text := lower(btrim(coalesce(pseudonym, '')));
    why text := btrim(regexp_replace(coalesce(reason, ''), '\\s+', ' ', 'g'));
    found_person text;
    found_id text;
begin
    if wanted !~ '^[0-9a-f]{{64}}$' then
        raise exception 'not a pseudonym: 64 hex characters (HMAC-SHA256) expected'
            using errcode = '22023';
    end if;
    if length(why) < {MIN_REASON_LENGTH} then
        raise exception 'a reason of at least {MIN_REASON_LENGTH} characters is required'
            using errcode = '22023';
    end if;
    select p.person_id, p.personal_id into found_person, found_id
    from vault.personal_ids as p where p.id_pseudonym = wanted
    order by p.person_id limit 1;
    insert into vault.reidentifications (requested_at, requested_by, pseudonym, reason, found,
                                         person_id)
    values (clock_timestamp(), session_user, wanted, why, found_person is not null,
            found_person);
    return found_id;
end $$;
alter function vault.reveal(text, text) owner to {VAULT};
revoke all on function vault.reveal(text, text) from public;
grant execute on function vault.reveal(text, text) to {REIDENTIFIER};
"""


def upgrade() -> None:
    for statements in (ROLES, TABLES, MOVE, REVEAL):
        op.execute(statements)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
