"""The workbench's web application: JSON endpoints over :mod:`pace_linkage.workbench.views` and one page.

Rules (the page shows record ids and holds labels, so only its analyst may reach it):

* served on 127.0.0.1 only (the command binds there); a request whose Host is not ``127.0.0.1`` or
  ``localhost`` (with the port) is refused, so a web page elsewhere cannot reach it by renaming itself (DNS
  rebinding);
* a random token in the URL printed at start: the first request carrying ``?token=`` gets an HttpOnly,
  SameSite=Strict cookie and is sent on without the token in its URL; every request without the token or the
  cookie gets 403;
* every asset comes from the package (no CDN) under a strict Content-Security-Policy (scripts and styles from the
  page's own origin only, nothing inline, no frames, no 'unsafe-eval': charts are Vega-Lite specs rendered by the
  vendored Vega with its expression interpreter); responses are not cached;
* a mistake in a request is 400 with one line naming the parameter, never a value from the data.
"""

from __future__ import annotations

import hmac
import threading
from importlib import resources
from pathlib import Path

from pace_linkage.errors import InputError, PaceError
from pace_linkage.evaluate import curve
from pace_linkage.workbench import clerical, patterns, views

COOKIE = "pace_workbench"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
# the chart libraries vendored for the report (pace_linkage/report/vendor), served as they are
VENDOR = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "vega-interpreter.js")


def _asset(name: str) -> str:
    return resources.files("pace_linkage.workbench").joinpath("static", name).read_text(encoding="utf-8")


def _vendor(name: str) -> str:
    return resources.files("pace_linkage.report").joinpath("vendor", name).read_text(encoding="utf-8")


def _warm_curve(bench: views.Workbench) -> None:
    """Make the fine curve ahead of the page's request; a failure is left for that request to answer (as one
    line), never printed from this thread."""
    try:
        views.curve_rows(bench)
    except Exception:  # noqa: BLE001, S110 -- the request makes it again and answers the error
        pass


def create_app(run_dir: Path, token: str, port: int | None = None, records=None, cfg=None,
               save_to: Path | None = None, store: str | None = None, truth=None):
    """The FastAPI application over the run folder ``run_dir``, reachable with ``token``; given ``records`` (the
    extracts read and normalised with ``cfg``) waterfalls show the records' values; sets of ids are saved under
    ``save_to`` (None: saving is refused); with the central store at the URL ``store``, cluster histories, and
    labels kept there too; with ``truth`` (a truth frame) the figures measured too. The workbench is
    ``app.state.bench``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, RedirectResponse, Response

    bench = views.Workbench.open(Path(run_dir), records, cfg, store=store, truth=truth)
    # the curve the page asks for first (seconds at a million records) is made while the browser opens
    threading.Thread(target=_warm_curve, args=(bench,), name="workbench-curve", daemon=True).start()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bench = bench
    hosts = {"127.0.0.1", "localhost"} | ({f"127.0.0.1:{port}", f"localhost:{port}"} if port else set())

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.headers.get("host", "") not in hosts:
            return Response("refused: not a local address", status_code=403)
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given, token):
            target = request.url.remove_query_params("token")
            response = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""), 303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        if not hmac.compare_digest(request.cookies.get(COOKIE, ""), token):
            return Response("refused: open the address the workbench printed, with its token", status_code=403)
        try:
            response = await call_next(request)
        except Exception as exc:  # noqa: BLE001 -- a bug: its type only, never its message (it may quote data)
            response = JSONResponse({"error": f"internal error: {type(exc).__name__}"}, 500)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(PaceError)
    async def one_line(_request: Request, exc: PaceError):
        return JSONResponse({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, 400)

    _routes(app, bench, save_to)
    return app


def _routes(app, bench: views.Workbench, save_to: Path | None) -> None:
    """The page, its assets and the JSON endpoints."""
    from fastapi.responses import HTMLResponse, Response

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return _asset("index.html")

    @app.get("/favicon.ico")
    def icon() -> Response:  # the page names none; a browser asks anyway (after a refused page, say)
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in ASSETS:
            return Response("not found", status_code=404)
        return Response(_asset(name), media_type=ASSETS[name])

    @app.get("/vendor/{name}")
    def vendor(name: str) -> Response:
        if name not in VENDOR:
            return Response("not found", status_code=404)
        return Response(_vendor(name), media_type="text/javascript")

    @app.get("/api/run")
    def run_facts() -> dict:
        return {"threshold": bench.threshold, "can_save": save_to is not None, "values": bench.values is not None,
                "store": bench.store is not None, "records": int(len(bench.run.records)),
                "pairs": int(len(bench.run.pairs)), "truth": bench.inputs.person is not None}

    @app.get("/api/curve")
    def curve_rows() -> list:
        return views.curve_rows(bench)

    @app.get("/api/threshold")
    def at_threshold(t: float) -> dict:
        return views.figures_at(bench, t)

    @app.post("/api/save")
    def save_ids(t: float) -> dict:
        return views.save_ids(bench, t, save_to)

    @app.get("/api/clerical")
    def clerical_at(t: float) -> dict:
        if not 0 < t < 1:
            raise InputError("t: must be strictly between 0 and 1")
        return clerical.figures(bench, t)

    @app.get("/api/clerical/curve")
    def clerical_curve() -> list:
        return clerical.curve(bench, curve.FINE_GRID)

    @app.get("/api/pair/{pair}")
    def pair(pair: int) -> dict:
        return views.waterfall(bench, pair)

    @app.get("/api/patterns")
    def pattern_table(t: float) -> dict:
        return patterns.gamma_patterns(bench, t)

    @app.get("/api/patterns/{pattern}")
    def pattern_sample(pattern: str, n: int = 20) -> dict:
        return patterns.pattern_pairs(bench, pattern, n=n)

    @app.get("/api/cluster")
    def cluster(q: str, t: float) -> dict:
        return views.cluster_view(bench, q, t)

    @app.get("/api/partners")
    def partners() -> list:
        return views.by_partner(bench)

    @app.get("/api/label")
    def label_next() -> dict:
        return views.label_queue(bench)

    @app.post("/api/label/{pair}/{label}")
    def label(pair: int, label: str) -> dict:
        return views.save_label(bench, pair, label)


__all__ = ["COOKIE", "CSP", "VENDOR", "create_app"]
