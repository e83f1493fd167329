{#- The filter of a model that keeps each term's figures as the latest day of that term left
    them (unique key: school year and term; a column `figures_as_of`): on an incremental run,
    this run's rows of a term only if no later day's are kept (a backfill of an earlier day
    leaves them). Follows `select * from final`. -#}
{% macro unless_a_later_day_is_kept() -%}
    {%- if is_incremental() %}
where
    not exists (
        select 1
        from {{ this }} as kept
        where
            kept.school_year = final.school_year
            and kept.term = final.term
            and kept.figures_as_of > final.figures_as_of
    )
    {%- endif %}
{%- endmacro %}
