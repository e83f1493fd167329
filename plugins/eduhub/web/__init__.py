"""`eduhub web`: the dashboard of the Sở, in Vietnamese, over the published warehouse.

    eduhub web [--host 127.0.0.1] [--port 8090] [--idle-minutes 30]

A person signs in with their own PostgreSQL login (a member of the analyst, provincial or a
commune group) and every page reads the warehouse in a connection opened as that login
(`sessions`): the grants and row policies of the warehouse decide what each page shows. Pages:

- `/` overview: completeness, the đúng-đủ-sạch-sống scorecard and the units furthest below
  target, with the scorecard chart;
- `/don-vi/{code}` a commune or a school: the same figures, each rule's failing records with
  what the rule means and how to fix it, the commune's schools, and the school's worklist
  (.xlsx) for the provincial role;
- `/kiem-tra` the year's 30% sample with its reasons, and the form that records a visit
  (`inspection.record_visit`, migration 0008: who and when are the database's);
- `/danh-muc` the rule catalogue;
- `/van-hanh` for the operators (`eduhub_operator`): each DAG's last runs from Airflow's API
  (`airflow_runs`), the partitions validation rejected with the failed expectations and the
  form that accepts one or keeps it rejected (`operations.decide_batch`, migration 0010,
  applied by the next `transform_warehouse`), and the quarantine counts.

Every form carries the session's CSRF token (the sign-in form a token of its own cookie) and is
refused without it. Everything is served from this process: no CDN, no script, the chart
inline; the Content-Security-Policy forbids anything else.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from eduhub.reports import charts
from eduhub.web import airflow_runs, routes
from eduhub.web.sessions import SessionStore

DEFAULT_PORT = 8090


def create_app(warehouse_url: str, idle_seconds: float = 1800, max_seconds: float = 8 * 3600,
               secure_cookies: bool = False) -> FastAPI:
    store = SessionStore(warehouse_url, idle_seconds, max_seconds)

    @asynccontextmanager
    async def lifespan(_app):
        charts.prepare()  # the first page with a chart would wait seconds for matplotlib
        yield
        store.close_all()

    app = FastAPI(title="Trang tổng hợp dữ liệu giáo dục", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.airflow = airflow_runs.AirflowApi.from_environment()
    app.state.templates = Jinja2Templates(directory=routes.HERE / "templates")
    app.state.cookie = {"httponly": True, "samesite": "strict", "secure": secure_cookies,
                        "path": "/"}
    app.mount("/static", StaticFiles(directory=routes.HERE / "static"), name="static")
    app.middleware("http")(routes.security_headers)
    app.add_exception_handler(routes.Refused, routes.refused)
    app.include_router(routes.router)
    return app


def serve(warehouse_url: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          idle_minutes: float = 30, secure_cookies: bool = False) -> None:
    import uvicorn

    app = create_app(warehouse_url, idle_seconds=idle_minutes * 60,
                     secure_cookies=secure_cookies)
    # one process: the sessions (and their connections) live in its memory
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True,
                server_header=False, access_log=False)


__all__ = ["DEFAULT_PORT", "create_app", "serve"]
