"""Probabilistic matching (Splink 5 on DuckDB): school records without a usable identity
against the PCGD-XMC residents and against the other school records.

Data is read from PostgreSQL with COPY into an in-memory DuckDB (Splink's PostgreSQL
backend lacks Jaro-Winkler and pgserver's PostgreSQL has no fuzzystrmatch), scored there,
and the scored pairs go back to PostgreSQL through person.py.

Model: names compared with their accents (exact, accents only, 1 or 2 edits, Jaro-Winkler),
birth date (exact, within a month, same year), sex, place (commune), personal ID (exact, 1 or
2 digits apart); blocked on the unaccented name and birth year, on birth date and sex, and on
the personal ID. u by random sampling, m by expectation maximisation on a sample of all school
records against the residents; the trained model is stored as Splink JSON in
pii.match_models and reused until retrained.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eduhub.identity import normalise

log = logging.getLogger(__name__)

# A candidate link at or above ACCEPT_PROBABILITY is accepted; from REVIEW_PROBABILITY up to it,
# it goes to the review queue; below, the record stays unmatched.
ACCEPT_PROBABILITY = 0.99
REVIEW_PROBABILITY = 0.5
TRAINING_SAMPLE = 50_000
U_SAMPLE_PAIRS = 3e6
SEED = 20260905

# The columns every matched record has, school record or resident.
COLUMNS = {
    "unique_id": "VARCHAR", "kind": "VARCHAR", "full_name": "VARCHAR", "name_key": "VARCHAR",
    "date_of_birth": "DATE", "birth_year": "INTEGER", "sex": "VARCHAR",
    "commune_code": "VARCHAR", "personal_id": "VARCHAR",
}


def _name_sql(column: str) -> tuple[str, str]:
    """SQL (PostgreSQL) for the compared name and the blocking key, as normalise.py does."""
    accented, plain = normalise.accent_map()
    spaced = f"regexp_replace(trim(normalize({column}, nfc)), '\\s+', ' ', 'g')"
    return f"lower({spaced})", f"lower(translate({spaced}, '{accented}', '{plain}'))"


def school_records_sql(where: str = "true") -> str:
    full, key = _name_sql("full_name")
    return f"""
        select 'S:' || person_record_key as unique_id, 'school' as kind, {full} as full_name,
               {key} as name_key, date_of_birth,
               extract(year from date_of_birth)::integer as birth_year, sex, commune_code,
               case when personal_id ~ '^[0-9]{{12}}$' then personal_id end as personal_id
        from intermediate.int_identity_verifications where {where}"""


def residents_sql() -> str:
    full, key = _name_sql("full_name")
    return f"""
        select 'R:' || resident_id as unique_id, 'resident' as kind, {full} as full_name,
               {key} as name_key, date_of_birth,
               extract(year from date_of_birth)::integer as birth_year, sex, commune_code,
               case when personal_id ~ '^[0-9]{{12}}$' then personal_id end as personal_id
        from staging.stg_pcgd__residents where resident_id is not null"""


def copy_to_duckdb(conn, duck: duckdb.DuckDBPyConnection, table: str, query: str) -> int:
    """A PostgreSQL query into a DuckDB table, through CSV (COPY on both sides)."""
    with tempfile.TemporaryDirectory(prefix="eduhub-match-") as tmp:
        path = Path(tmp) / f"{table}.csv"
        with path.open("wb") as f, conn.cursor().copy(
                f"copy ({query}) to stdout with (format csv, header true)") as copy:
            for block in copy:
                f.write(block)
        columns = ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS.items())
        _exec(duck, f"create or replace table {table} as select * from read_csv("
                    f"'{path}', header = true, columns = {{{columns}}})")
    return duck.execute(f"select count(*) from {table}").fetchall()[0][0]


def _exec(duck: duckdb.DuckDBPyConnection, sql: str) -> list:
    """Run a statement to its end (DuckDB refuses new work while a result is unfinished)."""
    return duck.execute(sql).fetchall()


def settings(probability_two_random_records_match: float = 1e-4):
    """The Splink settings: link only (the records to match against the reference)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(output_column_name="full_name", comparison_levels=[
        cll.NullLevel("full_name"),
        cll.ExactMatchLevel("full_name"),
        cll.ExactMatchLevel("name_key").configure(label_for_charts="same name without accents"),
        cll.LevenshteinLevel("full_name", 1),
        cll.LevenshteinLevel("full_name", 2),
        cll.JaroWinklerLevel("full_name", 0.9),
        cll.ElseLevel(),
    ])
    birth = cl.CustomComparison(output_column_name="date_of_birth", comparison_levels=[
        cll.NullLevel("date_of_birth"),
        cll.ExactMatchLevel("date_of_birth"),
        cll.CustomLevel('abs(date_diff(\'day\', "date_of_birth_l", "date_of_birth_r")) <= 31',
                        "within a month"),
        cll.CustomLevel('year("date_of_birth_l") = year("date_of_birth_r")', "same year"),
        cll.ElseLevel(),
    ])
    pid = cl.CustomComparison(output_column_name="personal_id", comparison_levels=[
        cll.NullLevel("personal_id"),
        cll.ExactMatchLevel("personal_id"),
        cll.LevenshteinLevel("personal_id", 2).configure(label_for_charts="1 or 2 digits apart"),
        cll.ElseLevel(),
    ])
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=probability_two_random_records_match,
        comparisons=[name, birth, cl.ExactMatch("sex"), cl.ExactMatch("commune_code"), pid],
        blocking_rules_to_generate_predictions=[
            block_on("name_key", "birth_year"),
            block_on("date_of_birth", "sex"),
            block_on("personal_id"),
        ],
        additional_columns_to_retain=["kind"],
        retain_intermediate_calculation_columns=True,
    )


def _linker(duck, left: str, right: str, model):
    from splink import DuckDBAPI, Linker

    db = DuckDBAPI(connection=duck)
    tables = [db.register(left, table_name=f"splink_{left}"),
              db.register(right, table_name=f"splink_{right}")]
    return Linker(tables, model, log_level=logging.WARNING)


def train(duck: duckdb.DuckDBPyConnection, schools: str, residents: str) -> dict:
    """Train on a sample of all school records against the residents; the Splink model JSON."""
    from splink import block_on

    _exec(duck, f"""create or replace table training as select * from {schools}
                    order by hash(unique_id) limit {TRAINING_SAMPLE}""")
    n_right = duck.execute(f"select count(*) from {residents}").fetchall()[0][0]
    # about one resident per school record is the same person
    linker = _linker(duck, "training", residents, settings(1.0 / max(n_right, 1)))
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_key", "birth_year"), fix_probability_two_random_records_match=True)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth", "sex"), fix_probability_two_random_records_match=True)
    model = linker.misc.save_model_to_json()
    _fill_untrained(model)
    return model


# The least m of a level: any field of a true match may be wrong now and then, so no single
# field vetoes a pair. The personal ID most of all: a wrong or borrowed ID is what sends a
# record to the matching in the first place.
MIN_M = {"personal_id": 0.01}
DEFAULT_MIN_M = 1e-3


def _fill_untrained(model: dict) -> None:
    """Levels the training never observed get a conservative value, and no level is impossible."""
    for comparison in model["comparisons"]:
        floor = MIN_M.get(comparison["output_column_name"], DEFAULT_MIN_M)
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            level["m_probability"] = max(level.get("m_probability") or 0.0, floor)
            level["u_probability"] = max(level.get("u_probability") or 0.0, 1e-7)


@dataclass(frozen=True)
class Scored:
    """Scored candidate pairs, left always the record to match."""

    pairs: list[dict]
    compared: int


def predict(duck: duckdb.DuckDBPyConnection, model: dict, left: str, right: str) -> Scored:
    """Score every blocked pair of `left` (records to match) against `right` (residents and
    school records), above REVIEW_PROBABILITY, with the evidence per comparison."""
    n_right = duck.execute(f"select count(*) from {right}").fetchall()[0][0]
    if not duck.execute(f"select count(*) from {left}").fetchall()[0][0]:
        return Scored([], 0)
    model = {**model, "probability_two_random_records_match": 1.0 / max(n_right, 1)}
    linker = _linker(duck, left, right, model)
    predictions = linker.inference.predict(threshold_match_probability=REVIEW_PROBABILITY)
    table = predictions.physical_name
    columns = [r[0] for r in duck.execute(f"describe {table}").fetchall()]
    log.debug("prediction columns: %s", columns)
    gammas = [c for c in columns if c.startswith("gamma_")]
    rows = duck.execute(f"""
        select * from {table}
        where unique_id_l <> unique_id_r""").fetchall()
    labels = _level_labels(model)
    pairs = []
    for row in rows:
        r = dict(zip(columns, row, strict=True))
        # Splink orders the two inputs by name: turn every pair to (record to match, candidate)
        ours, theirs = ("l", "r") if r["source_dataset_l"] == f"splink_{left}" else ("r", "l")
        evidence = {}
        for g in gammas:
            name = g[len("gamma_"):]
            evidence[name] = {"level": labels.get((name, r[g]), str(r[g])),
                              "match_weight": _finite(r.get("mw_" + name))}
        pairs.append({
            "left": r[f"unique_id_{ours}"], "right": r[f"unique_id_{theirs}"],
            "right_kind": r[f"kind_{theirs}"],
            "match_probability": float(r["match_probability"]),
            "match_weight": float(r["match_weight"]), "evidence": evidence,
        })
    pairs.sort(key=lambda p: (p["left"], -p["match_weight"], p["right"]))
    return Scored(pairs, len(rows))


def _level_labels(model: dict) -> dict[tuple[str, int], str]:
    """(comparison, gamma value) -> the level's label, for the review queue's evidence."""
    labels = {}
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        for i, level in enumerate(non_null):
            labels[(comparison["output_column_name"], len(non_null) - 1 - i)] = level.get(
                "label_for_charts") or level["sql_condition"]
        labels[(comparison["output_column_name"], -1)] = "thiếu dữ liệu (null)"
    return labels


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
