-- The end-of-year indicators of Thông tư 03/2024 from the learners' outcomes
-- (statistics_year_end), per unit, level and grade as the outcomes are published: the persons
-- of the year, those still studying at its end, and the shares promoted (or the level
-- completed), re-tested in the summer, kept back and not evaluated yet, of those studying at
-- the end; the drop-out rate, of the persons of the year; the completion rate of a level's
-- last grade (5, 9, 12), of those studying at the end. A group with a hidden cell gets no
-- rate: a rate times a published total would give the hidden count away.
with

outcomes as (
    select * from {{ ref('statistics_year_end') }}
),

groups as (
    select
        school_year,
        term,
        aggregation_level,
        unit_code,
        school_level,
        grade,
        bool_or(is_suppressed) as is_suppressed,
        sum(learners) as learners_in_year,
        sum(learners) filter (where outcome != 'bo_hoc') as learners_at_year_end,
        coalesce(sum(learners) filter (
            where outcome in ('len_lop', 'hoan_thanh_cap_hoc')
        ), 0) as promoted,
        coalesce(sum(learners) filter (where outcome = 'kiem_tra_lai'), 0) as retested,
        coalesce(sum(learners) filter (where outcome = 'o_lai_lop'), 0) as kept_back,
        coalesce(sum(learners) filter (where outcome = 'chua_danh_gia'), 0) as not_evaluated,
        coalesce(sum(learners) filter (where outcome = 'bo_hoc'), 0) as dropped_out,
        coalesce(sum(learners) filter (
            where outcome = 'hoan_thanh_cap_hoc'
        ), 0) as completed
    from outcomes
    group by school_year, term, aggregation_level, unit_code, school_level, grade
),

final as (
    select
        concat_ws(':', aggregation_level, unit_code, school_level, grade) as statistic_key,
        school_year,
        term,
        aggregation_level,
        unit_code,
        school_level,
        grade,
        {#- (indicator, its numerator, its denominator, where it applies): none for a group
            with a hidden cell. The completion rate (primary completed, lower secondary
            graduated by review, upper secondary completed) is of a level's last grade only. #}
        {%- for name, numerator, denominator, applies in [
            ('learners_in_year', 'learners_in_year', none, none),
            ('learners_at_year_end', 'learners_at_year_end', none, none),
            ('promotion_rate', 'promoted', 'learners_at_year_end', none),
            ('retest_rate', 'retested', 'learners_at_year_end', none),
            ('repetition_rate', 'kept_back', 'learners_at_year_end', none),
            ('not_evaluated_share', 'not_evaluated', 'learners_at_year_end', none),
            ('dropout_rate', 'dropped_out', 'learners_in_year', none),
            ('completion_rate', 'completed', 'learners_at_year_end', 'grade in (5, 9, 12)'),
        ] %}
        {%- set figure = numerator ~ '::numeric / nullif(' ~ denominator ~ ', 0)'
            if denominator else numerator %}
        case
            when not is_suppressed{{ ' and ' ~ applies if applies }}
                then {{ figure }}
        end as {{ name }},
        {%- endfor %}
        is_suppressed
    from groups
)

select * from final
