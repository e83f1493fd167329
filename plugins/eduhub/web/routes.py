"""The dashboard's pages and forms (see `eduhub.web`): each reads the signed-in person's session,
runs `pages` in its connection and renders a template."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.background import BackgroundTask

from eduhub import settings
from eduhub.reports import ReportError, content, spreadsheet, worklist
from eduhub.web import airflow_runs, pages
from eduhub.web.sessions import Session, SessionStore, SignInRefused

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "eduhub_session"
SIGN_IN_COOKIE = "eduhub_sign_in"
SECURITY_HEADERS = {
    # nothing but this site: no script at all, the chart inline
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "script-src 'none'; form-action 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# GX's Data Docs run their own inline scripts: allowed there, and still nothing but this site
DATA_DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
                    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
                    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'")

router = APIRouter()


class Refused(Exception):
    """A request answered with an error page (401: to the sign-in form)."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message


async def security_headers(request: Request, call_next):
    request.app.state.store.reap()
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _store(request: Request) -> SessionStore:
    return request.app.state.store


def render(request: Request, template: str, session: Session | None, status: int = 200,
           **context) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, template, {
        "session": session, "csrf": session.csrf if session else None, "status_code": status,
        **context}, status_code=status)


async def refused(request: Request, exc: Refused):
    if exc.status == 401:
        return RedirectResponse(f"/dang-nhap?tiep={quote(request.url.path)}", status_code=303)
    session = _store(request).get(request.cookies.get(SESSION_COOKIE))
    return render(request, "error.html", session, status=exc.status, message=exc.message)


def signed_in(request: Request) -> Session:
    session = _store(request).get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise Refused(401)
    return session


def _same(a, b) -> bool:
    return isinstance(a, str) and isinstance(b, str) and bool(a) and hmac.compare_digest(a, b)


def check_csrf(session: Session, form) -> None:
    if not _same(form.get("csrf"), session.csrf):
        raise Refused(403, "Biểu mẫu không hợp lệ hoặc đã hết hạn (thiếu mã CSRF): tải lại trang "
                           "rồi gửi lại.")


def _local(target: str) -> str:
    """Only a path of this site after sign-in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _date(value) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise Refused(400, f"Ngày không hợp lệ: {value!r} (định dạng năm-tháng-ngày)") from None


def send_xlsx(name: str, write) -> FileResponse:
    """A workbook made for this answer (`write(path)`), deleted once sent: the server keeps no
    copy (a worklist holds personal data)."""
    scratch = Path(tempfile.mkdtemp(prefix="eduhub-web-"))
    path = write(scratch / name)
    return FileResponse(path, filename=path.name, media_type=XLSX,
                        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))


def run(request: Request, session: Session, work):
    """The page's queries in the session's connection, one request at a time; a refusal of
    the database becomes the page's."""
    with session.lock:
        try:
            return work(session.conn)
        except pages.NotAllowed:
            raise Refused(403, "Không có quyền xem đơn vị này.") from None
        except pages.NotFound as exc:
            raise Refused(404, f"Không có đơn vị mã {exc} trong danh mục.") from None
        except psycopg.errors.InsufficientPrivilege:
            raise Refused(403, "Không có quyền xem nội dung này.") from None
        except ReportError as exc:
            raise Refused(404, str(exc)) from None
        except psycopg.OperationalError:
            _store(request).end(session.token)
            raise Refused(401) from None


# -- sign-in and out -------------------------------------------------------------------------

def _sign_in_page(request: Request, status: int = 200, **context) -> HTMLResponse:
    """The form, with a fresh token in its cookie (double submit: the form proves it came from
    this site before there is a session)."""
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", None, status=status, sign_in_token=token,
                      **context)
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=1800, **request.app.state.cookie)
    return response


@router.get("/dang-nhap", response_class=HTMLResponse)
def sign_in_form(request: Request, tiep: str = "/"):
    return _sign_in_page(request, next=_local(tiep))


@router.post("/dang-nhap")
async def sign_in(request: Request):
    form = await request.form()
    nxt = _local(str(form.get("tiep") or "/"))
    if not _same(form.get("csrf"), request.cookies.get(SIGN_IN_COOKIE)):
        raise Refused(403, "Biểu mẫu đăng nhập không hợp lệ hoặc đã hết hạn: tải lại trang.")
    login = str(form.get("login") or "")
    try:
        session = _store(request).sign_in(login, str(form.get("password") or ""))
    except SignInRefused as exc:
        return _sign_in_page(request, status=401, error=str(exc), next=nxt, login=login)
    response = RedirectResponse(nxt, status_code=303)
    response.set_cookie(SESSION_COOKIE, session.token, **request.app.state.cookie)
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


@router.post("/dang-xuat")
async def sign_out(request: Request):
    session = signed_in(request)
    check_csrf(session, await request.form())
    _store(request).end(session.token)
    response = RedirectResponse("/dang-nhap", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- pages -----------------------------------------------------------------------------------

PROVINCE = content.Unit("tinh", content.PROVINCE_CODE, content.PROVINCE_NAME)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request):
    session = signed_in(request)

    def work(conn):
        when = pages.period(conn)
        return {"when": when, **pages.quality(conn, PROVINCE, when)}

    return render(request, "overview.html", session, **run(request, session, work))


@router.get("/don-vi/{code}", response_class=HTMLResponse)
def unit_page(request: Request, code: str):
    session = signed_in(request)

    def work(conn):
        unit = pages.unit(conn, code)
        when = pages.period(conn)
        school = unit.aggregation_level == "truong"
        return {"unit": unit, "when": when, "level": pages.level_label(unit.aggregation_level),
                **pages.quality(conn, unit, when), "failures": pages.rule_failures(conn, unit),
                "schools": [] if school else pages.schools_of(conn, unit.code),
                "worklist": school and pages.may_write_worklists(conn)}

    return render(request, "unit.html", session, **run(request, session, work))


@router.get("/don-vi/{code}/danh-sach-loi.xlsx")
def worklist_download(request: Request, code: str):
    """The school's worklist, made for this request through the audited door (which records
    who asked) and not kept on the server."""
    session = signed_in(request)

    def work(conn):
        pages.unit(conn, code)
        return worklist.fetch_in(conn, code, dt.date.today())

    found = run(request, session, work)
    log.info("web: %s downloaded the worklist of %s (%d records)", session.login, code,
             len(found.failures))
    return send_xlsx(f"{found.file_stem()}.xlsx",
                     lambda path: worklist.write_xlsx(found, path))


@router.get("/kiem-tra", response_class=HTMLResponse)
def inspection(request: Request, ghi: str | None = None):
    session = signed_in(request)

    def work(conn):
        when = pages.period(conn)
        return {"when": when, **pages.inspection(conn, when),
                "may_record": pages.may_record_visits(conn), "recorded": ghi}

    return render(request, "inspection.html", session, **run(request, session, work))


@router.post("/kiem-tra")
async def record_visit(request: Request):
    session = signed_in(request)
    form = await request.form()
    check_csrf(session, form)
    school = str(form.get("school") or "")
    visited_on, due = _date(form.get("visited_on")), _date(form.get("follow_up_due"))

    def work(conn):
        when = pages.period(conn)
        pages.record_visit(conn, when.school_year, school, visited_on,
                           str(form.get("findings") or ""), str(form.get("follow_up") or ""),
                           due)

    try:
        run(request, session, work)
    except pages.VisitNotAllowed as exc:
        raise Refused(403, f"Không có quyền ghi biên bản: {exc}") from None
    except pages.VisitRefused as exc:
        raise Refused(400, f"Chưa ghi được biên bản: {exc}") from None
    log.info("web: %s recorded a visit to %s", session.login, school)
    return RedirectResponse(f"/kiem-tra?ghi={quote(school)}", status_code=303)


@router.get("/thong-ke", response_class=HTMLResponse)
def statistics_province(request: Request):
    session = signed_in(request)

    def work(conn):
        if not pages.sees_whole_province(conn):
            return None
        return statistics_context(conn, content.PROVINCE_CODE)

    found = run(request, session, work)
    if found is None:  # a commune's login: its own communes' forms
        listed = run(request, session, pages.communes)
        return render(request, "statistics.html", session, unit=None, communes=listed)
    return render(request, "statistics.html", session, **found)


def statistics_context(conn, code: str) -> dict:
    unit = pages.unit(conn, code)
    when = pages.period(conn)
    return {"unit": unit, "when": when, "tables": pages.statistics(conn, unit, when),
            "communes": pages.communes(conn)}


@router.get("/thong-ke/{code}", response_class=HTMLResponse)
def statistics_unit(request: Request, code: str):
    session = signed_in(request)
    return render(request, "statistics.html", session,
                  **run(request, session, lambda conn: statistics_context(conn, code)))


@router.get("/thong-ke/{code}/bieu-mau.xlsx")
def statistics_download(request: Request, code: str):
    session = signed_in(request)
    found = run(request, session, lambda conn: statistics_context(conn, code))
    unit, when = found["unit"], found["when"]
    heading = ["SỞ GIÁO DỤC VÀ ĐÀO TẠO TÂY NINH",
               f"THỐNG KÊ GIÁO DỤC NĂM HỌC {when.school_year} - {unit.name.upper()}"]
    return send_xlsx(f"thong-ke_{unit.code}_{when.school_year}.xlsx",
                     lambda path: spreadsheet.write_tables(found["tables"], path, heading,
                                                           dt.date.today()))


@router.get("/dinh-danh", response_class=HTMLResponse)
def identity(request: Request, da_quyet_dinh: str | None = None):
    session = signed_in(request)

    def work(conn):
        when = pages.period(conn)
        reviewer = pages.may_review(conn)
        return {"when": when, "coverage": pages.identity_coverage(conn, when),
                "reviewer": reviewer, "items": pages.review_items(conn) if reviewer else [],
                "decisions": pages.DECISIONS, "decided": da_quyet_dinh}

    return render(request, "identity.html", session, **run(request, session, work))


@router.post("/dinh-danh")
async def decide(request: Request):
    session = signed_in(request)
    form = await request.form()
    check_csrf(session, form)
    item, decision = str(form.get("item") or ""), str(form.get("decision") or "")
    try:
        run(request, session, lambda conn: pages.decide(
            conn, item, decision, str(form.get("reason") or "")))
    except pages.ReviewRefused as exc:
        raise Refused(400, f"Chưa ghi được quyết định: {exc}") from None
    log.info("web: %s decided a review item (%s)", session.login, decision)
    return RedirectResponse(f"/dinh-danh?da_quyet_dinh={quote(decision)}", status_code=303)


@router.get("/van-hanh", response_class=HTMLResponse)
def operations(request: Request, da_ghi: str | None = None):
    """For the operators: the DAGs' last runs (Airflow's API, the dashboard's own account), what
    validation rejected with the failed expectations and the decision form, quarantine counts."""
    session = signed_in(request)

    def work(conn):
        if not pages.may_operate(conn):
            raise Refused(403, "Trang vận hành chỉ dành cho cán bộ vận hành hệ thống.")
        return {"partitions": pages.rejected_partitions(conn),
                "quarantine": pages.quarantine_counts(conn)}

    found = run(request, session, work)
    api, runs, unavailable = request.app.state.airflow, [], None
    if api is None:
        unavailable = "chưa cấu hình địa chỉ Airflow (EDUHUB_AIRFLOW_API_URL)"
    else:
        try:
            runs = pages.dag_runs(api)
        except airflow_runs.AirflowUnavailable as exc:
            unavailable = str(exc)
    return render(request, "operations.html", session, runs=runs, unavailable=unavailable,
                  decisions=pages.BATCH_DECISIONS, decided=da_ghi, **found)


@router.post("/van-hanh")
async def decide_batch(request: Request):
    session = signed_in(request)
    form = await request.form()
    check_csrf(session, form)
    fields = [str(form.get(name) or "") for name in ("batch_id", "source", "entity",
                                                      "partition", "decision", "reason")]
    try:
        run(request, session, lambda conn: pages.decide_batch(conn, *fields))
    except pages.BatchDecisionRefused as exc:
        raise Refused(400, f"Chưa ghi được quyết định: {exc}") from None
    log.info("web: %s decided a rejected partition of %s.%s (%s)", session.login, fields[1],
             fields[2], fields[4])
    return RedirectResponse(f"/van-hanh?da_ghi={quote(fields[4])}", status_code=303)


@router.get("/kiem-dinh/{path:path}")
def data_docs(request: Request, path: str):
    """The GX Data Docs of the validations (offline: eduhub.validation.offline_docs), for a
    signed-in person; counts and rule names only, never a failing value."""
    signed_in(request)
    root = settings.DATA_DOCS_DIR.resolve()
    target = (root / (path or "index.html")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Refused(404, "Không có trang kiểm định này (chưa có lần kiểm định nào?).")
    response = FileResponse(target)
    response.headers["Content-Security-Policy"] = DATA_DOCS_POLICY
    return response


@router.get("/danh-muc", response_class=HTMLResponse)
def catalogue(request: Request):
    session = signed_in(request)
    return render(request, "rules.html", session, table=run(request, session, pages.rules))
