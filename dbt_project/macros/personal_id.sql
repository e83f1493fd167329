{#- The personal-ID checks of plugins/eduhub/identity/personal_id.py, in core PostgreSQL
    (no extension): the same finding codes, severities and Vietnamese messages. A test keeps
    the two in step (tests/test_identity_models.py). -#}

{#- The 63 birth-registration province codes (before 1 July 2025), as a SQL list. -#}
{% macro personal_id_province_codes() -%}
    (
        '001', '002', '004', '006', '008', '010', '011', '012', '014', '015', '017',
        '019', '020', '022', '024', '025', '026', '027', '030', '031', '033', '034',
        '035', '036', '037', '038', '040', '042', '044', '045', '046', '048', '049',
        '051', '052', '054', '056', '058', '060', '062', '064', '066', '067', '068',
        '070', '072', '074', '075', '077', '079', '080', '082', '083', '084', '086',
        '087', '089', '091', '092', '093', '094', '095', '096'
    )
{%- endmacro %}

{#- The finding codes of an ID (text[], empty when nothing is wrong), checked against the
    birth date and sex where they are known. -#}
{% macro personal_id_finding_codes(personal_id, date_of_birth, sex) -%}
    case
        when nullif(trim({{ personal_id }}), '') is null then array['missing']
        when trim({{ personal_id }}) !~ '^[0-9]+$' then array['not_digits']
        when length(trim({{ personal_id }})) <> 12 then array['wrong_length']
        else array_remove(array[
            case
                when substr(trim({{ personal_id }}), 4, 1)::integer > 5
                    then 'century_sex_invalid'
                -- 4th digit: 0/1 born 1900s male/female, 2/3 2000s, 4/5 2100s
                when
                    {{ date_of_birth }} is not null
                    and substr(trim({{ personal_id }}), 4, 1)::integer / 2
                    <> extract(year from {{ date_of_birth }})::integer / 100 - 19
                    then 'century_sex_mismatch'
                when
                    {{ sex }} is not null
                    and substr(trim({{ personal_id }}), 4, 1)::integer % 2
                    <> case {{ sex }} when 'nu' then 1 else 0 end
                    then 'century_sex_mismatch'
            end,
            case
                when
                    {{ date_of_birth }} is not null
                    and substr(trim({{ personal_id }}), 5, 2)
                    <> lpad((extract(year from {{ date_of_birth }})::integer % 100)::text, 2, '0')
                    then 'year_mismatch'
            end,
            case
                -- the 4th to 6th digits give the birth year; after the day checked: impossible
                when
                    substr(trim({{ personal_id }}), 4, 1)::integer <= 5
                    and 1900 + substr(trim({{ personal_id }}), 4, 1)::integer / 2 * 100
                    + substr(trim({{ personal_id }}), 5, 2)::integer
                    > extract(year from '{{ as_of_date() }}'::date)
                    then 'birth_year_in_future'
            end,
            case
                when substr(trim({{ personal_id }}), 1, 3) not in {{ personal_id_province_codes() }}
                    then 'unknown_prefix'
            end
        ], null)
    end
{%- endmacro %}

{#- True when the ID has no error finding (an unknown prefix only warns). -#}
{% macro personal_id_is_valid(personal_id, date_of_birth, sex) -%}
    not ({{ personal_id_finding_codes(personal_id, date_of_birth, sex) }}
        && array['missing', 'not_digits', 'wrong_length', 'century_sex_invalid',
                 'century_sex_mismatch', 'year_mismatch', 'birth_year_in_future'])
{%- endmacro %}

{#- Every finding code with its severity and Vietnamese message, as a relation. -#}
{% macro personal_id_finding_messages() -%}
    select * from (
        values
        ('missing', 'error', 'Thiếu số định danh cá nhân'),
        ('not_digits', 'error', 'Số định danh cá nhân chỉ được gồm chữ số'),
        ('wrong_length', 'error', 'Số định danh cá nhân phải gồm đúng 12 chữ số'),
        ('century_sex_invalid', 'error', 'Chữ số thứ 4 (thế kỷ và giới tính) không hợp lệ: chỉ được từ 0 đến 5'),
        ('century_sex_mismatch', 'error', 'Chữ số thứ 4 không khớp với giới tính hoặc thế kỷ của năm sinh'),
        ('year_mismatch', 'error', 'Chữ số thứ 5-6 không khớp với năm sinh'),
        ('birth_year_in_future', 'error', 'Chữ số thứ 4-6 cho năm sinh sau ngày kiểm tra: số định danh không thể đúng'),
        ('unknown_prefix', 'warning', 'Mã nơi đăng ký khai sinh (3 chữ số đầu) không có trong danh mục mã tỉnh; cần kiểm tra (có thể là mã quốc gia)')
    ) as messages (finding_code, severity, message_vi)
{%- endmacro %}
