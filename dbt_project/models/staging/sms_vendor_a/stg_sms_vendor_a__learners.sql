with

source as (
    select * from {{ source('sms_vendor_a', 'learners') }}
),

latest as (
    select
        *,
        row_number() over (partition by natural_key order by record_id desc) as version_rank
    from source
),

final as (
    select
        natural_key as learner_record_key,
        payload ->> 'learner_id' as moet_id,
        nullif(trim(payload ->> 'national_id'), '') as personal_id,
        normalize(trim(payload ->> 'full_name'), nfc) as full_name,
        case
            when payload ->> 'birth_date' ~ '^\d{4}-\d{2}-\d{2}$'
                then (payload ->> 'birth_date')::date
        end as date_of_birth,
        case payload ->> 'gender' when 'M' then 'nam' when 'F' then 'nu' end as sex,
        normalize(trim(payload ->> 'ethnicity'), nfc) as ethnicity,
        payload ->> 'school_code' as school_code,
        payload ->> 'class_name' as class_name,
        (payload ->> 'grade')::integer as grade,
        payload ->> 'enrollment_status' as enrolment_status,
        (payload ->> 'updated_at')::timestamptz as source_updated_at,
        extracted_at
    from latest
    where version_rank = 1 and not is_deleted
)

select * from final
