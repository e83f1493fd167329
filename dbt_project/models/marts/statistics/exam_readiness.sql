-- Readiness of the learners facing an exam or an admission: grade 12 (graduation exam),
-- grades 5 and 9 (admission to grades 6 and 10). Ready = personal ID verified against the
-- population database and every required field of the record filled.
with

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc' and grade in (5, 9, 12)
),

verifications as (
    select * from {{ ref('stg_population__verifications') }}
),

assessed as (
    select
        learners.school_code,
        learners.commune_code,
        learners.managing_unit,
        learners.grade,
        coalesce(verifications.verification_status = 'match', false) as id_verified,
        (
            learners.personal_id is not null and learners.date_of_birth is not null
            and learners.sex is not null and learners.ethnicity is not null
            and learners.class_name is not null
        ) as record_complete
    from learners
    left join verifications
        on
            {{ person_fingerprint('learners.personal_id', 'learners.full_name',
                                 'learners.date_of_birth', 'learners.sex') }}
            = verifications.fingerprint
),

final as (
    select
        school_code || ':' || grade as readiness_key,
        school_code,
        commune_code,
        managing_unit,
        grade,
        case grade
            when 12 then 'thi_tot_nghiep_thpt'
            when 9 then 'tuyen_sinh_lop_10'
            else 'tuyen_sinh_lop_6'
        end as purpose,
        count(*) as learners,
        count(*) filter (where id_verified) as id_verified,
        count(*) filter (where record_complete) as record_complete,
        count(*) filter (where id_verified and record_complete) as ready,
        {{ safe_rate('count(*) filter (where id_verified and record_complete)', 'count(*)') }}
            as readiness_rate
    from assessed
    group by school_code, commune_code, managing_unit, grade
)

select * from final
