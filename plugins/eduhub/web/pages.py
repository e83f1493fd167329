"""What each page of the dashboard shows, read in the signed-in person's own session.

The figures are the reports' (`eduhub.reports.content`): one place computes a table, the
documents and the pages draw it. Nothing is filtered here: a commune's login sees its own rows
because the row policies show it nothing else, and a table a role may not read is said so.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from eduhub.reports import charts, content
from eduhub.reports.content import ReportError, Unit
from eduhub.reports.document import Table, integer, nfc, percent, short_date, vietnamese_key
from eduhub.reports.labels import (
    AGGREGATION_LEVELS,
    CRITERIA,
    ENTITIES,
    SCHOOL_LEVELS,
    SEXES,
    SOURCES,
    VISIT_STATUSES,
    label,
)

SEVERITIES = {"error": "Lỗi", "warning": "Cảnh báo"}


class NotAllowed(Exception):
    """The unit exists for someone, but this session sees none of it."""


class NotFound(Exception):
    """No such unit, and the session sees the whole province (so it would see it)."""


@dataclass(frozen=True)
class Period:
    school_year: str
    term: str

    @property
    def label(self) -> str:
        return f"Năm học {self.school_year}, {content.TERMS[self.term]}"


def period(conn) -> Period:
    return Period(*content.latest_term(conn))


def sees_whole_province(conn) -> bool:
    return conn.execute("select exists (select 1 from marts.unit_directory"
                        " where aggregation_level = 'tinh')").fetchone()[0]


def unit(conn, code: str) -> Unit:
    """The unit of a URL, if this session may see it (the province: if it sees every row)."""
    try:
        found = content.resolve_unit(conn, code)
    except ReportError:
        if sees_whole_province(conn):
            raise NotFound(code) from None
        raise NotAllowed(code) from None
    if found.aggregation_level == "tinh" and not sees_whole_province(conn):
        raise NotAllowed(code)
    return found


def chart_data_uri(scores: dict[str, float]) -> str | None:
    """The reports' scorecard chart, inline (no request leaves the page)."""
    if not scores:
        return None
    return _chart(tuple(scores.items()))


@functools.lru_cache(maxsize=512)
def _chart(scores: tuple[tuple[str, float], ...]) -> str:
    """Drawn once per set of scores (matplotlib takes a few hundred ms): the same figures give
    the same picture, whoever asks."""
    with tempfile.TemporaryDirectory(prefix="eduhub-web-") as scratch:
        chart = charts.scorecard_chart(dict(scores), Path(scratch) / "chart.png")
        return "data:image/png;base64," + base64.b64encode(chart.image.read_bytes()).decode()


def quality(conn, unit_: Unit, when: Period) -> dict:
    tables, scores = content.quality_tables(conn, unit_, when.school_year, when.term)
    if unit_.aggregation_level == "truong":
        del tables["priorities"]  # a ranking of managing units: a school has its failures below
    return {"tables": tables, "chart": chart_data_uri(scores)}


def schools_of(conn, commune: str) -> list[dict]:
    """The schools a commune manages or hosts, as this session sees them."""
    return [{"code": code, "name": name, "level": label(SCHOOL_LEVELS, level), "silent": silent}
            for code, name, level, silent in conn.execute(
                "select unit_code, unit_name, school_level, is_silent from marts.unit_directory"
                " where aggregation_level = 'truong'"
                " and (managed_by = %s or located_in_commune = %s)"
                " order by school_level, unit_name", (commune, commune))]


def rule_failures(conn, unit_: Unit) -> Table | None:
    """The unit's failing records counted per rule, with the catalogue's meaning and remedy;
    None when this role may not read the published failures (the analyst: they carry record
    keys)."""
    column = "school_code" if unit_.aggregation_level == "truong" else "commune_code"
    try:
        rows = conn.execute(
            "select f.rule_id, r.criterion, r.severity, count(*), r.field_vi, r.description_vi,"
            " r.when_it_matters_vi, r.resolution_vi"
            " from audit.quality_failures as f"
            " join reference.quality_rules as r using (rule_id)"
            f" where f.{column} = %s"
            " group by 1, 2, 3, 5, 6, 7, 8 order by 4 desc, 1", (unit_.code,)).fetchall()
    except psycopg.errors.InsufficientPrivilege:
        return None
    return Table(
        "Các bản ghi không đạt theo quy tắc",
        ("Quy tắc", "Tiêu chí", "Mức", "Số bản ghi", "Trường thông tin", "Ý nghĩa",
         "Khi nào cần", "Cách khắc phục"),
        tuple((rule, label(CRITERIA, criterion), label(SEVERITIES, severity), integer(n),
               nfc(field or ""), nfc(description), nfc(when or ""), nfc(resolution))
              for rule, criterion, severity, n, field, description, when, resolution in rows),
        numeric=(3,))


def may_write_worklists(conn) -> bool:
    return conn.execute(
        "select case when has_schema_privilege('worklist', 'usage')"
        " then has_function_privilege('worklist.school_failures(text)', 'execute')"
        " else false end").fetchone()[0]


def inspection(conn, when: Period) -> dict:
    province = Unit("tinh", content.PROVINCE_CODE, content.PROVINCE_NAME)
    sampled = [{"code": code, "name": nfc(name or code), "status": label(VISIT_STATUSES, status),
                "visited_on": short_date(visited)}
               for code, name, status, visited in conn.execute(
                   "select sample.school_code, s.school_name, sample.visit_status,"
                   " sample.visited_on" + content.SAMPLE_FROM
                   + " where sample.school_year = %s order by s.school_name, 1",
                   (when.school_year,))]
    return {"table": content.inspection_table(conn, province, when.school_year),
            "sampled": sampled}


def may_record_visits(conn) -> bool:
    """May call the door (which still keeps a commune to the schools it inspects)."""
    return conn.execute(
        "select case when has_schema_privilege('inspection', 'usage') then"
        " has_function_privilege('inspection.record_visit(text, text, date, text, text, date)',"
        " 'execute') else false end").fetchone()[0]


class VisitRefused(ValueError):
    """The database refused the visit (the message is its, in Vietnamese)."""


class VisitNotAllowed(VisitRefused):
    """This login may not record that school's visit."""


def record_visit(conn, school_year: str, school: str, visited_on: dt.date | None,
                 findings: str, follow_up: str, follow_up_due: dt.date | None) -> None:
    """Through the door of migration 0008, which checks the school, the dates and who asks."""
    try:
        conn.execute("select inspection.record_visit(%s, %s, %s, %s, %s, %s)",
                     (school_year, school, visited_on, findings, follow_up, follow_up_due))
    except psycopg.errors.InvalidParameterValue as exc:
        raise VisitRefused(exc.diag.message_primary) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        said = exc.diag.message_primary or ""
        raise VisitNotAllowed(said if said.startswith("tài khoản") else
                              "tài khoản này không ghi biên bản kiểm tra") from None


def statistics(conn, unit_: Unit, when: Period) -> list[Table]:
    """The TT 25/2024 forms the reports print, small cells suppressed as published."""
    return content.statistics_tables(conn, unit_, when.school_year)


def communes(conn) -> list[dict]:
    """The communes this session sees (a commune's login: its own)."""
    return [{"code": code, "name": name} for code, name in conn.execute(
        "select unit_code, unit_name from marts.unit_directory where aggregation_level = 'xa'"
        " order by unit_name")]


# -- identity ---------------------------------------------------------------------------------

CANDIDATE_KINDS = {"resident": "Người trong dữ liệu PCGD-XMC", "school": "Hồ sơ ở trường khác"}
RECORD_FIELDS = {"full_name": "Họ và tên", "date_of_birth": "Ngày sinh", "sex": "Giới tính",
                 "commune_code": "Xã/phường", "school_code": "Trường",
                 "household_id": "Hộ (PCGD-XMC)", "personal_id": "Số định danh",
                 "verification_status": "Xác thực với CSDLQG về dân cư"}
VERIFICATION = {"match": "Khớp", "mismatch": "Không khớp", "not_found": "Không tìm thấy",
                "pending": "Chờ xác thực", "not_verifiable": "Không xác thực được"}
DECISIONS = {"accepted": "Cùng một người: ghép", "rejected": "Hai người khác nhau: không ghép",
             "unsure": "Chưa chắc chắn: để người khác rà soát"}


def identity_coverage(conn, when: Period) -> Table:
    """ID coverage and verification per level: the province's, or the commune's own."""
    if sees_whole_province(conn):
        scope = content.resolve_unit(conn, content.PROVINCE_CODE)
    else:
        mine = communes(conn)
        if not mine:
            raise NotAllowed("dinh-danh")
        scope = Unit("xa", mine[0]["code"], mine[0]["name"])
    return content.identity_table(conn, scope, when.school_year, when.term)


def may_review(conn) -> bool:
    return conn.execute(
        "select case when has_schema_privilege('review', 'usage')"
        " then has_function_privilege('review.open_items()', 'execute') else false end"
    ).fetchone()[0]


def _shown(field: str, value, names: dict[str, str]) -> str:
    if value in (None, ""):
        return "-"
    if field in ("commune_code", "school_code"):
        return f"{names.get(str(value), value)} ({value})"
    if field == "sex":
        return label(SEXES, value)
    if field == "verification_status":
        return label(VERIFICATION, value)
    if field == "date_of_birth":
        try:
            return short_date(dt.date.fromisoformat(str(value)))
        except ValueError:
            return nfc(str(value))  # as the source wrote it: the reviewer sees the defect
    return nfc(str(value))


def review_items(conn) -> list[dict]:
    """The open items (pending, or left unsure by a reviewer), both records side by side."""
    names = content.unit_names(conn)
    items = []
    for (key, record, kind, probability, weight, evidence, left, right, reason, status,
         decided_by, decided_at, decision_reason, queued_at) in conn.execute(
            "select * from review.open_items()"):
        fields = [f for f in RECORD_FIELDS if f in (left or {}) or f in (right or {})]
        items.append({
            "key": key, "record": record, "kind": label(CANDIDATE_KINDS, kind),
            "probability": percent(probability), "weight": f"{weight:.1f}".replace(".", ","),
            "reason": nfc(reason), "status": status, "queued_at": short_date(queued_at.date()),
            "rows": [(RECORD_FIELDS[f], _shown(f, (left or {}).get(f), names),
                      _shown(f, (right or {}).get(f), names)) for f in fields],
            "evidence": _evidence(evidence),
            "unsure": (f"{decided_by} ({short_date(decided_at.date())}): {nfc(decision_reason)}"
                       if status == "unsure" else None)})
    return items


def _evidence(evidence) -> list[str]:
    if isinstance(evidence, dict):
        return [f"{k}: {_evidence_value(v)}" for k, v in evidence.items()]
    if isinstance(evidence, list):
        return [_evidence_value(v) for v in evidence]
    return []


def _evidence_value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


class ReviewRefused(ValueError):
    """The database refused the decision (its message, in Vietnamese)."""


def decide(conn, item: str, decision: str, reason: str) -> None:
    try:
        conn.execute("select review.decide(%s, %s, %s)", (item, decision, reason))
    except psycopg.errors.InvalidParameterValue as exc:
        raise ReviewRefused(exc.diag.message_primary) from None


def rules(conn) -> Table:
    rows = conn.execute(
        "select rule_id, criterion, severity, target, field_vi, description_vi, resolution_vi"
        " from reference.quality_rules order by criterion, rule_id").fetchall()
    return Table(
        "Danh mục quy tắc kiểm tra chất lượng dữ liệu",
        ("Quy tắc", "Tiêu chí", "Mức", "Chỉ tiêu", "Trường thông tin", "Ý nghĩa",
         "Cách khắc phục"),
        tuple((rule, label(CRITERIA, criterion), label(SEVERITIES, severity), percent(target),
               nfc(field or ""), nfc(description), nfc(resolution))
              for rule, criterion, severity, target, field, description, resolution in rows),
        numeric=(3,))


def level_label(level: str) -> str:
    return label(AGGREGATION_LEVELS, level)


# -- operations ------------------------------------------------------------------------------

RUN_STATES = {"success": "Thành công", "failed": "Thất bại", "running": "Đang chạy",
              "queued": "Đang chờ"}
NEVER_RUN = "Chưa chạy"
RUN_TYPES = {"scheduled": "Theo lịch", "manual": "Chạy tay", "backfill": "Chạy bù",
             "asset_triggered": "Khi có dữ liệu mới"}
BATCH_DECISIONS = {"accept": "Chấp nhận lô", "keep_rejected": "Giữ từ chối"}
DECISION_OUTCOMES = {"accepted": "Đã chấp nhận", "kept_rejected": "Giữ từ chối",
                     "no_longer_rejected": "Không còn bị từ chối (không cần áp dụng)"}
NOT_YET_APPLIED = "Chờ lần biến đổi kho tiếp theo"
VIETNAM = dt.timezone(dt.timedelta(hours=7))


def local_time(moment: dt.datetime | None) -> str:
    """A moment as the Sở reads it: Vietnam's time, day first."""
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M") if moment else ""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} phút {rest:02d} giây" if minutes else f"{rest} giây"


def may_operate(conn) -> bool:
    """A member of the operators' group (migration 0010): the database says, not the page."""
    return conn.execute("select coalesce((select pg_has_role(current_user, oid, 'MEMBER')"
                        " from pg_roles where rolname = 'eduhub_operator'), false)").fetchone()[0]


def _names_if_readable(conn) -> dict[str, str]:
    """Unit names, for a login that may read the directory (an operator need not)."""
    readable = conn.execute("select has_table_privilege('marts.unit_directory', 'select')"
                            " where to_regclass('marts.unit_directory') is not null").fetchone()
    return content.unit_names(conn) if readable and readable[0] else {}


def dag_runs(api) -> list[dict]:
    """Each DAG's last run, and the states of the runs before it, as the page lists them."""
    rows = []
    for dag in api.last_runs():
        last = dag.runs[0] if dag.runs else None
        rows.append({
            "dag_id": dag.dag_id, "name": nfc(dag.display_name), "paused": dag.paused,
            "url": dag.ui_url, "state": last.state if last else None,
            "state_label": label(RUN_STATES, last.state) if last else NEVER_RUN,
            "run_type": label(RUN_TYPES, last.run_type) if last else "",
            "started": local_time(last.start_date or last.run_after) if last else "",
            "duration": duration(last.seconds) if last else "",
            "run_url": dag.run_url(last) if last else None,
            "before": [(r.state, label(RUN_STATES, r.state) if r.state else NEVER_RUN,
                        local_time(r.run_after))
                       for r in dag.runs[1:]]})
    return sorted(rows, key=lambda r: vietnamese_key(r["name"]))  # by title, as read


def rejected_partitions(conn) -> list[dict]:
    """What validation rejected, undecided or decided (the last 90 days), through the door."""
    names = _names_if_readable(conn)
    rows = []
    for (batch, source, entity, partition, status, extracted_at, received, landed, quarantined,
         reasons, decision, decided_by, decided_at, decision_reason, applied_at,
         outcome) in conn.execute("select * from operations.rejected_partitions()"):
        rows.append({
            "batch_id": batch, "source": source, "entity": entity, "partition": partition,
            "what": f"{label(ENTITIES, entity)} · {label(SOURCES, source)}",
            "unit": names.get(partition, ""), "status": status,
            "extracted_at": local_time(extracted_at), "received": integer(received),
            "landed": integer(landed), "quarantined": integer(quarantined),
            "reasons": [r.strip() for r in (reasons or "").split(";") if r.strip()],
            "decision": label(BATCH_DECISIONS, decision) if decision else None,
            "decided": (f"{decided_by}, {local_time(decided_at)}: {nfc(decision_reason)}"
                        if decision else None),
            "outcome": (label(DECISION_OUTCOMES, outcome) if applied_at else NOT_YET_APPLIED)
            if decision else None,
            "open": status == "rejected" and (decision is None or applied_at is not None)})
    return rows


def quarantine_counts(conn) -> Table:
    names = _names_if_readable(conn)
    rows = conn.execute("select * from operations.quarantine_counts()").fetchall()
    return Table(
        "Bản ghi cách ly (sai định dạng, chờ trường sửa)",
        ("Nguồn", "Đối tượng", "Đơn vị", "Đang cách ly", "Đã được sửa", "Lần đầu", "Lần cuối"),
        tuple((label(SOURCES, source), label(ENTITIES, entity),
               f"{partition} {names.get(partition, '')}".strip(),
               integer(open_records), integer(resolved), local_time(first_seen),
               local_time(last_seen))
              for source, entity, partition, open_records, resolved, first_seen, last_seen
              in rows),
        numeric=(3, 4),
        note="Chỉ số lượng: nội dung bản ghi không hiển thị ở đây (có thể chứa dữ liệu cá nhân).")


class BatchDecisionRefused(ValueError):
    """The database refused the decision (its message, in Vietnamese)."""


def decide_batch(conn, batch: str, source: str, entity: str, partition: str, decision: str,
                 reason: str) -> None:
    try:
        conn.execute("select operations.decide_batch(%s, %s, %s, %s, %s, %s)",
                     (batch, source, entity, partition, decision, reason))
    except psycopg.errors.InvalidParameterValue as exc:
        raise BatchDecisionRefused(exc.diag.message_primary) from None
