-- The statistics frozen at each school year's official data dates (int_statistics_snapshots):
-- the start-of-year and end-of-year figures of Thông tư 25/2024, one row per figure. Cells
-- of fewer than 5 learners stay suppressed as they were published.
select * from {{ ref('int_statistics_snapshots') }}
