{#- Vietnamese without marks and tones, in core PostgreSQL: translate() with the explicit
    table of plugins/eduhub/identity/normalise.py (Đ → D; no `unaccent` extension here). -#}
{% macro vn_unaccent(expression) -%}
    translate(
        normalize({{ expression }}, nfc),
        'àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ',
        'aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyydAAAAAAAAAAAAAAAAAEEEEEEEEEEEIIIIIOOOOOOOOOOOOOOOOOUUUUUUUUUUUYYYYYD'
    )
{%- endmacro %}


{#- The tables the matching (plugins/eduhub/identity/person.py) writes and the identity models
    read: a pre-hook of those models creates them empty when the matching has not run yet,
    so the models build on the first day. The same DDL as person.DDL (a test compares). -#}
{% macro identity_ddl() -%}
    select pg_advisory_xact_lock(hashtext('eduhub.identity_ddl'));
    create schema if not exists pii;
    create table if not exists pii.person_records (
        person_record_key text primary key,
        person_id text not null,
        link_method text not null,
        match_probability double precision,
        match_weight double precision,
        resident_id text,
        linked_record_key text,
        stated_id_pseudonym text,
        reason_vi text not null,
        input_hash text not null,
        run_id text not null,
        updated_at timestamptz not null
    );
    create table if not exists pii.persons (
        person_id text primary key,
        personal_id text,
        id_pseudonym text,
        registry_status text not null,
        resident_id text,
        learner_records integer not null,
        staff_records integer not null,
        schools integer not null,
        link_methods text [] not null,
        run_id text not null,
        updated_at timestamptz not null
    );
    create table if not exists pii.match_review_queue (
        review_key text primary key,
        person_record_key text not null,
        candidate_kind text not null,
        candidate_key text not null,
        match_probability double precision not null,
        match_weight double precision not null,
        evidence jsonb not null,
        left_record jsonb not null,
        right_record jsonb not null,
        reason_vi text not null,
        status text not null default 'pending',
        decided_by text,
        decided_at timestamptz,
        decision_reason text,
        run_id text not null,
        queued_at timestamptz not null
    );
    create table if not exists pii.match_models (
        model_id text primary key,
        trained_at timestamptz not null,
        splink_model jsonb not null,
        accept_probability double precision not null,
        review_probability double precision not null,
        training_records integer not null,
        run_id text not null
    );
{%- endmacro %}
