-- The review queue without personal data: candidate links scored between the review and the
-- acceptance thresholds, with the evidence (comparison levels). Reviewers read both
-- records side by side in pii.match_review_queue.
with

queue as (
    select * from {{ source('identity', 'match_review_queue') }}
),

final as (
    select
        review_key,
        person_record_key,
        candidate_kind,
        candidate_key,
        match_probability,
        match_weight,
        evidence,
        reason_vi,
        status,
        decided_at,
        queued_at
    from queue
)

select * from final
