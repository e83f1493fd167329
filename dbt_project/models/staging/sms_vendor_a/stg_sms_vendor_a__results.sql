{{ config(unique_key='result_record_key', indexes=[{'columns': ['result_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'results')) }}
),

final as (
    select
        natural_key as result_record_key,
        payload ->> 'learner_id' as moet_id,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        payload ->> 'term' as term,
        payload -> 'scores' as scores,
        payload ->> 'assessment' as assessment,
        payload ->> 'conduct' as conduct,
        payload ->> 'year_end_outcome' as year_end_outcome,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
