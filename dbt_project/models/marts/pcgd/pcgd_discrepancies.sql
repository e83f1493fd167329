-- The lists behind the reconciliation, for the communes to follow up: school-age children of
-- the census in no school, and enrolled learners in no census household. Records are named
-- by their system keys only (no name, no personal ID); the row's own key is a digest of the
-- record key, which it must not carry: analysts read every column but the record key.
with

failures as (
    select * from {{ ref('int_quality_checks') }}
    where rule_id in ('DU_PCGD_ENROLLED', 'DU_LEARNER_IN_PCGD') and not passed
),

final as (
    select
        md5(rule_id || ':' || record_key) as discrepancy_key,
        case rule_id
            when 'DU_PCGD_ENROLLED' then 'tre_trong_do_tuoi_chua_di_hoc'
            else 'hoc_sinh_khong_co_trong_pcgd'
        end as discrepancy,
        record_key,
        school_code,
        commune_code,
        school_year
    from failures
)

select * from final
