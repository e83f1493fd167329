-- Learner movements per school and term, from the status history: enrolments during the
-- year, transfers out, drop-outs, graduations, returns, class or grade moves, and records
-- the source stopped holding (int_learner_status_changes).
with

changes as (
    select * from {{ ref('int_learner_status_changes') }}
    where school_year is not null
),

schools as (
    select * from {{ ref('int_schools') }}
),

counted as (
    select
        school_code,
        school_year,
        term,
        count(*) filter (where change_kind = 'nhap_hoc') as enrolled,
        count(*) filter (where change_kind = 'chuyen_truong') as transferred_out,
        count(*) filter (where change_kind = 'bo_hoc') as dropped_out,
        count(*) filter (where change_kind = 'tot_nghiep') as graduated,
        count(*) filter (where change_kind = 'tro_lai') as returned,
        count(*) filter (where change_kind in ('chuyen_lop', 'doi_truong')) as moved_class,
        count(*) filter (where change_kind = 'xoa_khoi_nguon') as removed_from_source
    from changes
    group by school_code, school_year, term
),

final as (
    select
        counted.school_code || ':' || counted.school_year || ':' || counted.term
            as movement_key,
        counted.*,
        schools.school_level,
        schools.commune_code,
        schools.managing_unit
    from counted
    left join schools on counted.school_code = schools.school_code
)

select * from final
