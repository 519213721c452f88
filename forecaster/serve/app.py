"""``forecast serve``'s HTTP API (FastAPI): forecasts from the saved runs of a runs folder.

    GET  /health                    liveness, version, runs loaded
    GET  /runs                      every run: id, created, data, model, backtest MASE
    GET  /runs/{id}                 one run: columns, frequency, levels, series, leaderboard
    POST /runs/{id}/forecast        {"horizon": 30, "levels": [80, 95], "data": […], …}
    GET  /docs                      OpenAPI (Swagger UI); /openapi.json

``{id}`` is a run's name or ``latest`` (re-read on every request, so a run trained while
the server runs is served at once). A forecast is what ``forecast predict`` writes, as
JSON records with ISO timestamps: the run is loaded with :func:`forecaster.load` and
forecast with :meth:`Forecaster.predict` (see :mod:`forecaster.serve.run_cache` for the
cache and the path checks).

Every error is ``{"detail": "<one line>"}`` with a 4xx status: 400 malformed body (not
JSON, nested too deeply, not UTF-8) or run id, 403 a run leaving the runs folder, 404 unknown run, 409 a run that fails its checks,
413 a body over :data:`MAX_BODY_BYTES`, 415 a body not sent as JSON, 422 a request the
run cannot answer (horizon, levels, new data); the connection-level answers of
:mod:`forecaster.serve.connections` (a bad ``Content-Length``, a request too slow, too
many connections: 400, 408, 431, 503) have the same shape. A 500 means a bug: its answer names the
exception, never a traceback (that goes to the server's log). The server has no
authentication of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from forecaster._version import __version__
from forecaster.errors import ArtifactError, DataError, ForecastError, RunNotFoundError
from forecaster.serve.run_cache import (CACHE_SIZE, BadRunId, OutsideRunsDir, RunCache, details,
                                   list_runs, locate, one_line)

#: The most steps one request may forecast (``forecast predict`` allows 10,000: a long
#: recursive forecast holds a model's lock for seconds, so the server asks for less).
MAX_HORIZON = 1_000
#: The most forecast rows (series × horizon) one answer may hold.
MAX_FORECAST_ROWS = 1_000_000
#: The largest request body, in bytes (10 MiB): new data beyond it belong in a file and
#: ``forecast predict --data``.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: The most interval levels one request may ask for.
MAX_LEVELS = 20

#: Statuses of forecaster's own errors, first match wins (any other ForecastError: 422).
STATUS = ((BadRunId, 400), (OutsideRunsDir, 403), (RunNotFoundError, 404),
          (ArtifactError, 409))

Cell = Union[StrictStr, StrictInt, StrictFloat, None]
ROWS_DOC = ("Rows in long format, one object per row: `series_id`, `timestamp`, `value` "
            "(or the run's own column names, see GET /runs/{id}, or Nixtla's `unique_id`, "
            "`ds`, `y`), plus covariate columns.")


class ForecastRequest(BaseModel):
    """The body of ``POST /runs/{id}/forecast``; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"horizon": 30, "levels": [80, 95]},
        {"horizon": 12, "data": [{"series_id": "passengers", "timestamp": "1961-01-01",
                                  "value": 417}]}]})

    horizon: Optional[StrictInt] = Field(
        None, description=f"Steps to forecast, 1 to {MAX_HORIZON:,} (default: the trained "
                          "horizon); beyond the trained horizon the model forecasts "
                          "recursively, as `forecast predict` does.")
    levels: Optional[list[StrictInt]] = Field(
        None, max_length=MAX_LEVELS,
        description="Interval levels in percent, any from 1 to 99 (from the run's "
                    "calibration residuals; default: the calibrated ones; [] for none).")
    data: Optional[list[dict[str, Cell]]] = Field(
        None, description="New observations: forecast from their ends without retraining "
                          "(as `forecast predict --data`). " + ROWS_DOC)
    future: Optional[list[dict[str, Cell]]] = Field(
        None, description="Values of the run's future covariates over the horizon (as "
                          "`forecast predict --future`). " + ROWS_DOC)


router = APIRouter()


@router.get("/health", summary="Liveness")
def health(request: Request) -> dict:
    cache = request.app.state.cache
    return {"status": "ok", "version": __version__, "loaded_runs": len(cache),
            "loads": cache.loads}


@router.get("/runs", summary="Every saved run, newest first")
def runs(request: Request) -> dict:
    """Each run's id, created time, training data, model and backtest MASE, and which
    run ``latest`` names; a run whose records are damaged is listed with its ``error``."""
    return list_runs(request.app.state.runs_dir)


@router.get("/runs/{run_id}", summary="One run")
def run(run_id: str, request: Request) -> dict:
    """The run's summary, the columns new data must have, its frequency, calibrated
    levels, series and backtest leaderboard (``latest`` works as an id)."""
    return details(locate(request.app.state.runs_dir, run_id))


@router.post("/runs/{run_id}/forecast", summary="Forecast from a run")
def forecast(run_id: str, body: ForecastRequest, request: Request) -> JSONResponse:
    """The numbers ``forecast predict`` writes, as JSON records ``series_id, timestamp,
    forecast, lower_80, upper_80, …`` (timestamps as ISO strings, or integer steps as
    strings), with the notes ``forecast predict`` prints."""
    return JSONResponse(predict(request.app.state, run_id, body))


def predict(state, run_id: str, body: ForecastRequest) -> dict:
    """Check ``body``, forecast with the cached run and answer as a JSON-ready dict."""
    from forecaster.pipeline.predict import format_frame

    horizon, levels = _checked(body)
    run_dir = locate(state.runs_dir, run_id)
    with state.cache.use(run_dir) as loaded:
        record = loaded.record
        data = None if body.data is None else rows_frame(body.data, record.state, "data")
        future = None if body.future is None else rows_frame(body.future, record.state,
                                                             "future")
        _check_size(record.state, horizon, data)
        try:
            frame = loaded.model.predict(horizon, levels=levels, new_data=data,
                                         future=future)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            if data is None and future is None:
                raise
            raise DataError(f"the new data do not fit run {run_dir.name!r}: "
                            f"{one_line(exc)[:300]}") from None
        notes = list(getattr(loaded.model, "predict_notes_", None) or [])
    frame = format_frame(frame, record.state)
    return {"run": run_dir.name, "model": record.info.forecasts_with,
            "horizon": horizon or record.state.horizon, "notes": notes,
            "forecast": records(frame)}


def _checked(body: ForecastRequest) -> tuple:
    horizon = body.horizon
    if horizon is not None and not 1 <= horizon <= MAX_HORIZON:
        raise _Invalid(f"`horizon` must be between 1 and {MAX_HORIZON:,} (this server's "
                       f"cap; `forecast predict` forecasts further). Got {horizon}.")
    levels = None
    if body.levels is not None:
        bad = [lv for lv in body.levels if not 0 < lv < 100]
        if bad:
            raise _Invalid(f"`levels` must be percentages between 1 and 99. Got {bad[0]}.")
        levels = sorted(set(body.levels))
    return horizon, levels


def _check_size(state, horizon, data) -> None:
    """At most :data:`MAX_FORECAST_ROWS` rows in an answer (series counted generously:
    the run's and every id in the new data)."""
    from forecaster.pipeline.nixtla import NIXTLA_NAMES

    series = len(state.series)
    ids = None if data is None else next(  # the run's series column, else Nixtla's
        (c for c in (state.id_col, NIXTLA_NAMES["id_col"]) if c in data.columns), None)
    if ids is not None:
        series += int(data[ids].nunique())
    steps = horizon or state.horizon
    if series * steps > MAX_FORECAST_ROWS:
        raise _Invalid(f"the forecast would have up to {series * steps:,} rows, more than "
                       f"the {MAX_FORECAST_ROWS:,} one answer may hold; ask for fewer steps "
                       "or use `forecast predict`.")


class _Invalid(ForecastError):
    """A request the server refuses before forecasting (422)."""


ALIASES = ("series_id", "timestamp", "value")


def rows_frame(rows: list, state, what: str):
    """Request rows as a DataFrame in the run's columns: ``series_id``, ``timestamp`` and
    ``value`` are renamed to the run's series, time and target columns (a run without a
    series column takes ``series_id`` only when it names the run's one series)."""
    import pandas as pd

    if not rows:
        raise DataError(f"`{what}` must hold at least one row. Got [].")
    frame = pd.DataFrame.from_records(rows)
    own = dict(zip(ALIASES, (state.id_col, state.time_col, state.target)))
    for alias, column in own.items():
        if alias not in frame.columns or column == alias:
            continue
        if column is None:  # series_id, for a run of one series without a series column
            single = state.series[0].id if len(state.series) == 1 else None
            found = sorted(set(frame[alias].astype(str)))
            if single is None or found != [single]:
                raise DataError(f"`{what}`: run has no series column, so `series_id` must "
                                f"be left out or be its series' name ({single!r}). Got "
                                f"{found[0]!r}.")
            frame = frame.drop(columns=alias)
            continue
        if column in frame.columns:
            raise DataError(f"`{what}` rows give both {alias!r} and the run's column "
                            f"{column!r}; give one.")
        frame = frame.rename(columns={alias: column})
    return frame


def records(frame) -> list[dict]:
    """A forecast frame as JSON records: Python numbers, non-finite ones as null."""
    columns = {str(c): [_plain(v) for v in frame[c].tolist()] for c in frame.columns}
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def _plain(value):
    if isinstance(value, float) and (value != value or value in (float("inf"),
                                                                 float("-inf"))):
        return None
    return value


# -- errors ---------------------------------------------------------------------------------
def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


async def _forecast_error(request: Request, exc: ForecastError) -> JSONResponse:
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 422)
    return _answer(status, one_line(exc))


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Pydantic's list of problems as one line: the first, where and what it got."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    where, cell = _where(first)
    if kind == "json_invalid":
        why = (first.get("ctx") or {}).get("error", "")
        return _answer(400, f"the body is not valid JSON{': ' + str(why) if why else ''}.")
    if not where and isinstance(first.get("input"), bytes):  # not sent as JSON
        return _answer(415, "the body must be JSON sent with the header Content-Type: "
                            "application/json.")
    if kind == "missing" and not where:
        return _answer(400, 'the request needs a JSON body, e.g. {"horizon": 30}.')
    what = " must be text, a number or null" if cell else ": " + first.get("msg", "invalid")
    got = "" if kind == "missing" else f" Got {_short(first.get('input'))}."
    others = len({_where(e)[0] for e in errors}) - 1
    more = f" ({others} more problem(s))" if others else ""
    return _answer(422, f"`{where or 'body'}`{what}.{got}{more}")


#: The names pydantic adds to a location for each member of a union (a row's cell).
UNION_TAGS = ("str", "int", "float")


def _where(error: dict) -> tuple[str, bool]:
    """``(dotted location in the body, whether it is a row's cell)``."""
    parts = [str(p) for p in error.get("loc", ()) if p != "body"]
    cell = bool(parts) and parts[-1] in UNION_TAGS
    return ".".join(parts[:-1] if cell else parts), cell


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """FastAPI's own errors (404 no such route, 405, a body it could not parse) in the
    same shape; a body FastAPI failed to parse says why instead of "There was an error
    parsing the body" (its cause: invalid UTF-8, JSON nested too deeply)."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return _answer(400, f"the body is not valid UTF-8 (byte {cause.object[cause.start]:#04x}"
                            f" at offset {cause.start}); send JSON encoded as UTF-8.")
    if isinstance(cause, RecursionError):
        return _answer(400, "the body is not valid JSON: nested too deeply for this server "
                            "(arrays or objects within each other some thousands deep).")
    if isinstance(cause, (ValueError, TypeError)):
        return _answer(400, f"the body is not valid JSON: {one_line(cause)[:200]}.")
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: a 500 naming the exception; its traceback goes to the server's log only."""
    return _answer(500, f"internal error ({type(exc).__name__}); see the server's log.")


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before the
    app reads it (by its Content-Length, else while it streams in); bodies under the
    limit are read once and handed on."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _send(send, 400, "Content-Length must be a number of bytes.")
            if int(declared) > self.limit:
                return await _send(send, 413, self._too_big())
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _send(send, 413, self._too_big())
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _too_big(self) -> str:
        return (f"the request body must be at most {self.limit:,} bytes; send larger new "
                "data with `forecast predict --data FILE`.")


async def _send(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


DESCRIPTION = f"""Forecasts from the saved runs of `forecast train` and `Forecaster.save`,
the numbers `forecast predict` writes. `latest` works as a run id.

Caps: horizon ≤ {MAX_HORIZON:,} steps, ≤ {MAX_FORECAST_ROWS:,} rows per answer, bodies ≤
{MAX_BODY_BYTES:,} bytes. Errors are `{{"detail": "<one line>"}}` with a 4xx status.

**No authentication**: bind to loopback (the default) or put the server behind a proxy
that authenticates."""


def create_app(runs_dir, cache_size: int = CACHE_SIZE) -> FastAPI:
    """The API over the runs in ``runs_dir``, keeping at most ``cache_size`` loaded runs."""
    app = FastAPI(title="forecaster", version=__version__, description=DESCRIPTION)
    app.state.runs_dir = Path(runs_dir)
    app.state.cache = RunCache(cache_size)
    app.include_router(router)
    app.add_exception_handler(ForecastError, _forecast_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app
