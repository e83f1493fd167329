{{ config(unique_key='learner_record_key', indexes=[{'columns': ['learner_record_key']}]) }}

with

latest as (
    {{ current_versions(source('file_exports', 'learners')) }}
),

final as (
    select
        natural_key as learner_record_key,
        payload ->> 'Mã định danh Bộ GD&ĐT' as moet_id,
        nullif(trim(payload ->> 'Số định danh cá nhân'), '') as personal_id,
        normalize(trim(payload ->> 'Họ tên'), nfc) as full_name,
        {{ export_date("payload ->> 'Ngày sinh'") }} as date_of_birth,
        {{ sex_code("payload ->> 'Giới tính'") }} as sex,
        normalize(trim(payload ->> 'Dân tộc'), nfc) as ethnicity,
        payload ->> '_school_code' as school_code,
        payload ->> 'Lớp học' as class_name,
        case
            when payload ->> 'Khối học' = 'Mẫu giáo' then 0
            else {{ cast_or_null(
                "regexp_replace(payload ->> 'Khối học', '\\D', '', 'g')", 'integer'
            ) }}
        end as grade,
        {{ status_code("payload ->> 'Trạng thái'") }} as enrolment_status,
        normalize(trim(payload ->> 'Chỗ ở hiện nay'), nfc) as residence_address,
        payload ->> '_file' as source_file,
        -- when the school saved the file; a record landed before the landing recorded that
        -- time: its landing, the latest the file can have arrived
        coalesce((payload ->> '_file_modified_at')::timestamptz, extracted_at) as file_saved_at,
        extracted_at
    from latest
)

select * from final
