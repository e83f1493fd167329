-- Schools, classes, staff and facilities in the shape of the statistical reports (Thông tư
-- 03/2024), per school, per commune and level, and for the province. No personal data: no
-- cell is suppressed.
with

schools as (
    select * from {{ ref('int_schools') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

classes as (
    select
        school_code,
        count(*) as classes
    from (
        select
            school_code,
            school_year
        from {{ ref('stg_sms_vendor_a__classes') }}
        union all
        select
            school_code,
            school_year
        from {{ ref('stg_sms_vendor_b__classes') }}
    ) as all_classes
    where school_year = (select term.school_year from term)
    group by school_code
),

staff as (
    select
        school_code,
        count(*) as staff,
        count(*) filter (where staff_role = 'giao_vien') as teachers,
        count(*) filter (where staff_role = 'can_bo_quan_ly') as managers,
        count(*) filter (where staff_role = 'nhan_vien') as employees,
        count(*) filter (
            where staff_role = 'giao_vien' and qualification in ('dai_hoc', 'thac_si', 'tien_si')
        ) as teachers_university_or_above
    from {{ ref('int_staff') }}
    group by school_code
),

facilities as (
    select * from {{ ref('int_facilities') }}
    where school_year = (select term.school_year from term)
),

per_school as (
    select
        schools.school_code,
        schools.commune_code,
        schools.school_level,
        coalesce(classes.classes, 0) as classes,
        coalesce(staff.staff, 0) as staff,
        coalesce(staff.teachers, 0) as teachers,
        coalesce(staff.managers, 0) as managers,
        coalesce(staff.employees, 0) as employees,
        coalesce(staff.teachers_university_or_above, 0) as teachers_university_or_above,
        facilities.classrooms,
        facilities.solid_classrooms,
        facilities.has_clean_water,
        facilities.toilets,
        facilities.has_minimum_equipment,
        facilities.teacher_housing
    from schools
    left join classes on schools.school_code = classes.school_code
    left join staff on schools.school_code = staff.school_code
    left join facilities on schools.school_code = facilities.school_code
),

rolled_up as (
    select
        {{ unit_rollup_columns(['truong', 'xa', 'tinh']) }},
        school_level,
        count(*) as schools,
        sum(classes) as classes,
        sum(staff) as staff,
        sum(teachers) as teachers,
        sum(managers) as managers,
        sum(employees) as employees,
        sum(teachers_university_or_above) as teachers_university_or_above,
        sum(classrooms) as classrooms,
        sum(solid_classrooms) as solid_classrooms,
        count(*) filter (where has_clean_water) as schools_with_clean_water,
        sum(toilets) as toilets,
        count(*) filter (where has_minimum_equipment) as schools_with_minimum_equipment,
        sum(teacher_housing) as teacher_housing
    from per_school
    group by {{ unit_rollup_grouping_sets(['school_level'], ['truong', 'xa', 'tinh']) }}
),

final as (
    select
        concat_ws(':', rolled_up.aggregation_level, rolled_up.unit_code, rolled_up.school_level)
            as statistic_key,
        term.school_year,
        rolled_up.*
    from rolled_up
    cross join term
    where rolled_up.unit_code is not null
)

select * from final
