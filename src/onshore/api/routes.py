"""The endpoints, each a thin call into the library; results as JSON (the report as HTML)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from onshore.api.app import PROBLEM, Caller, State, job_error, need
from onshore.errors import DataError, InputError, NotFound, RowError

_problem = {"content": {PROBLEM: {"schema": {"type": "object"}}}}
router = APIRouter(
    prefix="/api",
    responses={
        400: {"description": "Request failed", **_problem},
        401: {"description": "No or unknown API key", **_problem},
        403: {"description": "The key's role is too low", **_problem},
        404: {"description": "Not found", **_problem},
        422: {"description": "Invalid parameter or data (row-level errors)", **_problem},
    },
)

Reader = Annotated[Caller, Depends(need("read"))]
Writer = Annotated[Caller, Depends(need("write"))]
Admin = Annotated[Caller, Depends(need("admin"))]
ID = r"^[A-Za-z0-9_.\-]{1,200}$"
PRODUCT = r"^[A-Za-z0-9_.\-]{1,200}(:[A-Za-z0-9_.\-]{1,200})?$"
Product = Annotated[str, PathParam(pattern=PRODUCT, description="A facility id (FACILITY or "
                                   "FACILITY:MATERIAL)")]
Buyer = Annotated[str, Query(pattern=r"^[a-z0-9_]{1,64}$", description="A buyer scope")]
On = Annotated[dt.date | None, Query(description="Evaluation date YYYY-MM-DD (default today)")]
PERIOD = r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
PeriodQ = Annotated[str | None, Query(pattern=PERIOD, description="Decide from the flows of "
                                      "this period (2025, 2025-Q1, 2025-03); default the "
                                      "latest year with flows in the product's supply chain, "
                                      "as the command line decides")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=1000)]
TAGS = ("raw", "stage", "country", "controlling_country", "company", "facility")


def st(request: Request) -> State:
    s: State = request.app.state.onshore
    return s


def _clean(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "value") and isinstance(v.value, str):
        return v.value
    try:
        import pandas as pd

        if v is pd.NaT or (not isinstance(v, list | dict | str) and pd.isna(v)):
            return None
    except (TypeError, ValueError):
        pass
    return v


def rows_of(df: Any) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in r.items()} for r in df.to_dict("records")]


def verdict(v: Any) -> dict[str, Any]:
    return {
        "rule_id": v.rule_id,
        "title": v.title,
        "verdict": v.verdict.value,
        "reason": v.reason,
        "evidence": list(v.evidence),
        "settle": list(v.settle),
        "citation": v.citation,
        "sources": list(v.sources),
        "confirmation": v.confirmation,
        "version": v.version,
    }


def _on(on: dt.date | None) -> dt.date:
    return on or dt.date.today()


# ---------------------------------------------------------------------------------------------
@router.get("/health", summary="Is the server up")
def health(request: Request) -> dict[str, Any]:
    s = st(request)
    return {"status": "ok", "local": s.settings.local}


@router.get("/whoami", summary="The caller's key name and role")
def whoami(c: Reader) -> dict[str, str]:
    return {"name": c.name, "role": c.role}


@router.get("/info", summary="What is in the store: rows per table, stages")
def info(request: Request, c: Reader) -> dict[str, Any]:
    s = st(request)
    net = s.network()

    def make() -> dict[str, Any]:
        with s.db() as store:
            counts = store.counts()
        f = net.facilities
        return {
            "store": s.path.name,
            "snapshot": net.snapshot,
            "counts": counts,
            "stages": {str(k): int(v) for k, v in f["stage"].astype(str).value_counts().items()},
            "countries": int(f["country"].nunique()) if len(f) else 0,
        }

    out: dict[str, Any] = s.cached("info", make)
    return out


@router.get("/overview", summary="Capacity by stage, material and country; facilities by stage "
            "and country")
def overview(request: Request, c: Reader) -> dict[str, Any]:
    from onshore.overview import capacity_table, facilities_by_stage_country

    s = st(request)
    net = s.network()

    def make() -> dict[str, Any]:
        counts = facilities_by_stage_country(net)
        return {
            "capacity": rows_of(capacity_table(net)),
            "facilities": {
                "index": [str(i) for i in counts.index],
                "columns": [str(c) for c in counts.columns],
                "values": [[int(x) for x in row] for row in counts.to_numpy()],
                # per stage, the facilities of every country after the first twelve
                "other": [int(x) for x in counts.iloc[:, 12:].sum(axis=1)],
            },
        }

    out: dict[str, Any] = s.cached("overview", make)
    return out


@router.get("/map", summary="Plants on the world map (stage, status, controlling country), "
            "filtered; capacity by stage and country, and by controlling country")
def network_map(
    request: Request,
    c: Reader,
    stage: Annotated[str | None, Query(pattern=r"^[a-z]{1,32}$")] = None,
    status: Annotated[str | None, Query(pattern=r"^[a-z]{1,32}$")] = None,
    control: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$",
                                         description="Controlling country (ISO alpha-2)")] = None,
) -> Response:
    from onshore.overview import (
        capacity_by_stage_country,
        countries_by_share,
        facility_map,
        filter_plants,
    )

    s = st(request)

    def make() -> bytes:
        net = s.network()
        every = s.cached("map.every", lambda: facility_map(net))
        shown = filter_plants(every, stage, status, control)

        def options(col: str) -> list[dict[str, Any]]:
            counts = every[col].value_counts()
            first = list(dict.fromkeys(every[col])) if col == "stage" else \
                list(counts.index)
            return [{"value": str(v), "plants": int(counts[v])} for v in first]

        located = shown[shown["lat"].notna() & shown["lon"].notna()]
        return encoded({
            "filters": {"stage": stage, "status": status, "control": control},
            "options": {k: options(k) for k in ("stage", "status", "control")},
            "plants": len(every),
            "shown": len(shown),
            "located": len(located),
            "points": rows_of(located),
            **{f"capacity_by_{by}": {"rows": rows_of(cap), "countries": countries_by_share(cap)}
               for by in ("country", "control")
               for cap in [capacity_by_stage_country(shown, by)]},
        })

    with s.lock:
        body: bytes = s.cached(("map", stage, status, control), make)
    return Response(body, media_type="application/json")


# --- tables and import -----------------------------------------------------------------------
@router.get("/tables", summary="The tables and their columns")
def tables(c: Reader) -> list[dict[str, Any]]:
    from onshore.records.model import TABLES

    return [{"name": n, "key": list(t.key), "columns": list(t.columns)} for n, t in TABLES.items()]


TableName = Literal["companies", "ownership", "facilities", "materials", "boms", "flows",
                    "licences"]


@router.get("/tables/{table}", summary="One page of a table, filtered")
def table_rows(
    request: Request,
    c: Reader,
    table: TableName,
    offset: Offset = 0,
    limit: Limit = 50,
    q: Annotated[str, Query(max_length=200, description="Text in any column")] = "",
    where: Annotated[
        list[str] | None,
        Query(max_length=20, description="Filters COLUMN=VALUE (exact, repeatable)"),
    ] = None,
    order: Annotated[str, Query(max_length=64, description="Sort column")] = "",
) -> dict[str, Any]:
    from onshore.records.model import TABLES

    spec = TABLES[table]
    cols = list(spec.columns)
    sql, args = f"FROM {table} WHERE 1=1", []
    for w in where or []:
        col, sep, val = w.partition("=")
        if not sep or col not in cols:
            raise InputError(f"a filter COLUMN=VALUE with a column of {table} "
                             f"({', '.join(cols)}), not {w!r}")
        sql += f' AND CAST("{col}" AS VARCHAR) = ?'
        args.append(val)
    if q:
        sql += " AND (" + " OR ".join(f'CAST("{c}" AS VARCHAR) ILIKE ?' for c in cols) + ")"
        args += [f"%{q}%"] * len(cols)
    if order and order.lstrip("-") not in cols:
        raise InputError(f"order by a column of {table} ({', '.join(cols)}), not {order!r}")
    by = (f'"{order.lstrip("-")}" {"DESC" if order.startswith("-") else "ASC"}, ' if order
          else "") + ", ".join(f'"{k}" NULLS FIRST' for k in spec.key)
    s = st(request)
    with s.db() as store:
        total = int(store.con.execute(f"SELECT count(*) {sql}", args).fetchall()[0][0])
        df = store.con.execute(
            f"SELECT * {sql} ORDER BY {by} LIMIT ? OFFSET ?", [*args, limit, offset]
        ).df()
    return {"table": table, "total": total, "offset": offset, "limit": limit,
            "columns": cols, "rows": rows_of(df)}


def _safe_name(name: str | None) -> str:
    from onshore.io.readers import FORMATS, table_for

    base = Path((name or "").replace("\\", "/")).name
    p = Path(base)
    if not base or base.startswith(".") or p.suffix.lower() not in FORMATS or table_for(p.stem) \
            is None:
        raise DataError([RowError(base or "(upload)", None, None, base,
                                  "a file named after a table (companies.csv, flows.xlsx, ...) "
                                  f"ending in {', '.join(FORMATS)}")])
    return base


async def _read_upload(f: UploadFile, limit: int, used: int) -> bytes:
    data = await f.read(limit - used + 1)
    if used + len(data) > limit:
        raise HTTPException(413, f"the upload exceeds {limit:,} bytes")
    return data


@router.post("/import", summary="Import table files, all-or-nothing (multipart)")
async def import_tables(
    request: Request,
    c: Writer,
    files: Annotated[list[UploadFile], File(description="Files named after their table")],
) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    s = st(request)
    if not files or len(files) > 50:
        raise InputError("give 1 to 50 files")
    with tempfile.TemporaryDirectory(prefix="onshore-upload-") as tmp:
        used, paths, names = 0, [], []
        for f in files:
            name = _safe_name(f.filename)
            if name in names:
                raise InputError(f"two files named {name!r}")
            data = await _read_upload(f, s.settings.max_upload_bytes, used)
            used += len(data)
            p = Path(tmp) / name
            p.write_bytes(data)
            paths.append(p)
            names.append(name)

        def run() -> Any:
            from onshore.io.load import import_files

            with s.db() as store:
                try:
                    written = import_files(store, paths, physical="warn")
                except DataError as e:
                    raise DataError(
                        [dataclasses.replace(r, file=r.file.replace(tmp + "/", ""))
                         for r in e.errors], e.truncated
                    ) from None
                s.keys.log_write(c.name, "import", {"files": names, "rows": dict(written)})
                s.reload()
                return written

        written = await run_in_threadpool(run)
    return {
        "written": dict(written),
        "rows": sum(written.values()),
        "warnings": [
            {"level": f.level, "check": f.check, "node": f.node, "message": f.message}
            for f in written.findings if f.level in ("error", "warning")
        ][:200],
    }


class DeleteRows(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        min_length=1, max_length=1000,
        description="The keys of the rows: an id, or the key columns joined by ':' "
        "(ownership OWNER:OWNED; flows SUPPLIER:CUSTOMER:MATERIAL:PERIOD)")


@router.post("/tables/{table}/delete", summary="Remove rows by key, all-or-nothing and audited; "
             "refused while other rows refer to them")
def delete_rows(request: Request, c: Writer, table: TableName, body: DeleteRows) -> dict[str, Any]:
    from onshore.records.model import TABLES

    keys = [TABLES[table].parse_key(k) for k in body.keys]
    s = st(request)
    with s.db() as store:
        s.flush_audit()  # the verdicts given so far come before the delete in the log
        try:
            n = store.delete(table, keys)
        finally:
            s.reload()  # refused or not: nothing cached outlives a write attempt
        s.keys.log_write(c.name, "delete", {"table": table, "keys": body.keys, "rows": n})
    return {"table": table, "removed": n}


# --- trace and owners ------------------------------------------------------------------------
def _by(by: str) -> list[str]:
    fields = [b.strip() for b in by.split(",") if b.strip()]
    bad = [b for b in fields if b not in TAGS]
    if not fields or bad:
        raise InputError(f"by: a comma-separated list of {', '.join(TAGS)}, not {by!r}")
    return fields


@router.get("/trace/{product}", summary="Origin of one unit of a product by tag")
def trace(
    request: Request,
    c: Reader,
    product: Product,
    by: Annotated[str, Query(max_length=200)] = "raw,stage,country",
    weight: Literal["mass", "value"] = "mass",
) -> dict[str, Any]:
    s = st(request)
    fields = _by(by)
    rows = s.cached(("trace", product, tuple(fields), weight),
                    lambda: rows_of(s.network().trace(product, by=fields, weight=weight)))
    return {"product": product, "by": fields, "weight": weight, "rows": rows}


@router.get("/trace/{product}/explain", summary="The heaviest upstream paths behind a tag")
def explain(
    request: Request,
    c: Reader,
    product: Product,
    raw: Annotated[str | None, Query(max_length=64)] = None,
    stage: Annotated[str | None, Query(max_length=64)] = None,
    country: Annotated[str | None, Query(max_length=64)] = None,
    top: Annotated[int, Query(ge=1, le=50)] = 5,
) -> dict[str, Any]:
    tag = {k: v for k, v in {"raw": raw, "stage": stage, "country": country}.items() if v}
    if not tag:
        raise InputError("give at least one of raw, stage, country")
    s = st(request)
    with s.lock:
        paths = s.network().explain(product, tag, top=top)
    return {"product": product, "tag": tag, "paths": [
        {"nodes": list(p.nodes), "weight": _clean(p.weight), "residual": p.residual}
        for p in paths
    ]}


@router.get("/owners/{company}", summary="The owners of a company up to its ultimate controller")
def owners(
    request: Request, c: Reader, company: Annotated[str, PathParam(pattern=ID)]
) -> dict[str, Any]:
    from onshore.owners import controlling_country, feoc, upstream_owners

    s = st(request)

    def make() -> dict[str, Any]:
        net = s.network()
        if company not in set(net.companies["id"].astype(str)):
            raise NotFound(f"no company {company!r} in the store")
        f = feoc(net).loc[company]
        return {
            "company": company,
            "controlling_country": controlling_country(net).get(company),
            "feoc": bool(f["feoc"]),
            "feoc_reason": _clean(f["reason"]) or "",
            "owners": rows_of(upstream_owners(net, company)),
        }

    out: dict[str, Any] = s.cached(("owners", company), make)
    return out


# --- rules and checks ------------------------------------------------------------------------
@router.get("/rules", summary="Every rule with its dates, buyers and status")
def rules_list(c: Reader) -> dict[str, Any]:
    from onshore.rules import bundled

    rs = bundled()
    return {
        "buyers": {k: {"title": b.title, "parent": b.parent} for k, b in rs.buyers.items()},
        "rules": [
            {"id": r.id, "title": r.title, "from": str(r.effective_from),
             "until": str(r.effective_until) if r.effective_until else None,
             "buyers": list(r.buyers), "test": r.test.kind, "status": r.status,
             "confirmation": r.confirmation}
            for r in rs.rules.values()
        ],
    }


@router.get("/rules/{rule_id}", summary="One rule in full")
def rules_show(c: Reader, rule_id: Annotated[str, PathParam(pattern=ID)]) -> dict[str, Any]:
    from onshore.rules import bundled

    d: dict[str, Any] = _clean(bundled().get(rule_id).model_dump(mode="json"))
    return d


def _period(s: State, product: str, period: str | None) -> tuple[str | None, str]:
    """The period to decide ``product`` from and how it was chosen, in words, as the command
    line chooses it (:func:`~onshore.compliance.context.decision_period`: the latest year with
    flows in the product's supply chain when none is asked for). It depends on the data only,
    so it is kept per data version, as every answer built on it."""
    from onshore.compliance.context import decision_period

    def make() -> tuple[str | None, str]:
        return decision_period(s.network(), period, product, choose="the period parameter "
                               "to choose")

    with s.lock:
        out: tuple[str | None, str] = s.cached(("period", product, period), make)
    return out


def _verdicts(s: State, product: str, buyer: str, on: dt.date, period: str | None) -> list[Any]:
    """Verdicts of one product for the current data (computed once until the next write), of
    the flows of ``period`` as resolved by :func:`_period`."""
    from onshore.compliance import check

    with s.lock:
        vs: list[Any] = s.cached(("check", product, buyer, on, period),
                                 lambda: check(s.network(), product, buyer, on, period=period))
    return vs


def _check(s: State, product: str, buyer: str, on: dt.date,
           period: str | None = None) -> list[Any]:
    """Verdicts of one product, each call audited."""
    from onshore.compliance.evaluate import _audit_row

    vs = _verdicts(s, product, buyer, on, period)
    s.audit([_audit_row(v) for v in vs])
    return vs


def _check_body(s: State, product: str, buyer: str, day: dt.date,
                period: str | None) -> dict[str, Any]:
    from onshore.compliance import data_basis
    from onshore.compliance.verdicts import worst

    def make() -> dict[str, Any]:
        used, how = _period(s, product, period)
        vs = _verdicts(s, product, buyer, day, used)
        basis = s.cached(("basis", product, used),
                         lambda: data_basis(s.network(), product, period=used))
        return {"product": product, "buyer": buyer, "on": day.isoformat(), "period": used,
                "period_basis": how, "worst": worst(vs).value,
                "data_basis": basis.get("text", ""), "verdicts": [verdict(v) for v in vs]}

    with s.lock:
        body: dict[str, Any] = s.cached(("body", product, buyer, day, period), make)
    return body


def encoded(body: Any) -> bytes:
    """A JSON body as the bytes sent (as Starlette's JSONResponse writes them)."""
    import json

    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


Answer = tuple[bytes, list[dict[str, Any]]]  # the bytes of a response and its audit rows


def _audit_rows(s: State, product: str, buyer: str, day: dt.date,
                period: str | None) -> list[dict[str, Any]]:
    """The audit rows of a product's verdicts (of the period :func:`_period` decides)."""
    from onshore.compliance.evaluate import _audit_row

    used = _period(s, product, period)[0]
    return [_audit_row(v) for v in _verdicts(s, product, buyer, day, used)]


def _check_answer(s: State, product: str, buyer: str, day: dt.date,
                  period: str | None) -> Answer:
    def make() -> Answer:
        body = _check_body(s, product, buyer, day, period)
        return encoded(body), _audit_rows(s, product, buyer, day, period)

    with s.lock:
        out: Answer = s.cached(("check.json", product, buyer, day, period), make)
    return out


async def _answer(request: Request, key: tuple[Any, ...], make: Callable[..., Answer],
                  *args: Any) -> Response:
    """A cached answer sent from the event loop (computed in a worker thread when missing),
    its verdicts audited; remembered under this exact path and query for the app's answer
    cache (:class:`onshore.api.app.AnswerCache`)."""
    from starlette.concurrency import run_in_threadpool

    s = st(request)
    version, hit = s.lookup(key)
    if hit is None:
        version, hit = await run_in_threadpool(s.versioned, make, s, *args)
    s.remember(version, request.scope["path"], request.scope["query_string"], hit)
    body, rows = hit
    s.audit(rows)
    return Response(body, media_type="application/json")


@router.get("/check/{product}", summary="May BUYER buy PRODUCT on a date (audited)",
            response_model=None)
async def check_one(
    request: Request, c: Reader, product: Product, buyer: Buyer = "dod", on: On = None,
    period: PeriodQ = None,
) -> Response:
    day = _on(on)
    return await _answer(request, ("check.json", product, buyer, day, period),
                         _check_answer, product, buyer, day, period)


class BatchCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: list[Annotated[str, Field(pattern=PRODUCT)]] = Field(min_length=1, max_length=1000)
    buyer: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] = "dod"
    on: dt.date | None = None
    period: Annotated[str | None, Field(pattern=PERIOD)] = None


@router.post("/check", summary="Check a batch of products for one buyer and date (audited)")
def check_batch(request: Request, c: Reader, body: BatchCheck) -> dict[str, Any]:
    """Each product is decided from ``period`` or, without one, from its own latest year with
    flows; each row says which (``period``, ``period_basis``), the top ``period`` is the one
    asked for."""
    from onshore.compliance.verdicts import worst

    s = st(request)
    if len(body.products) > s.settings.max_batch:
        raise InputError(f"at most {s.settings.max_batch} products per batch; for every "
                         "product use POST /api/jobs/check-all")
    out = []
    for p in dict.fromkeys(body.products):
        used, how = _period(s, p, body.period)
        vs = _check(s, p, body.buyer, _on(body.on), used)
        w = worst(vs)
        out.append({"product": p, "period": used, "period_basis": how, "verdict": w.value,
                    "rules": [v.rule_id for v in vs if v.verdict == w],
                    "reason": next((v.reason for v in vs if v.verdict == w), "")})
    return {"buyer": body.buyer, "on": _on(body.on).isoformat(), "period": body.period,
            "products": out}


def _timeline(s: State, product: str, buyer: str, on: dt.date,
              period: str | None) -> list[dict[str, Any]]:
    from onshore.compliance.verdicts import worst
    from onshore.rules import bundled

    used = _period(s, product, period)[0]

    def make() -> list[dict[str, Any]]:
        rules = bundled().for_buyer(buyer)
        lo, hi = dt.date(on.year - 4, 1, 1), dt.date(on.year + 6, 12, 31)
        dates = {on}
        for r in rules:
            for d in (r.effective_from, r.effective_until):
                if d is not None and lo <= d <= hi:
                    dates.add(d)
        out, prev = [], None
        for d in sorted(dates):
            vs = _verdicts(s, product, buyer, d, used)
            state = {v.rule_id: v.verdict.value for v in vs}
            changed = ([k for k in state if prev is None or prev.get(k) != state[k]])
            out.append({"date": d.isoformat(), "worst": worst(vs).value,
                        "changed": [{"rule_id": k, "verdict": state[k]} for k in changed],
                        "counts": {o: sum(1 for x in state.values() if x == o)
                                   for o in sorted(set(state.values()))}})
            prev = state
        return out

    with s.lock:
        res: list[dict[str, Any]] = s.cached(("timeline", product, buyer, on, used), make)
    return res


def _product_facts(s: State, product: str, period: str | None) -> dict[str, Any]:
    """The plant, the trace and the Sankey of a product, of the flows its verdicts are decided
    from (``period`` as resolved by :func:`_period`; the report's functions)."""
    from onshore.compliance.dossier import origin_links
    from onshore.trace import heaviest

    fid = product.split(":")[0]

    def facts() -> dict[str, Any]:
        net = s.network()
        f = net.facilities[net.facilities["id"].astype(str) == fid]
        fac = rows_of(f)[0] if len(f) else None
        # a plant that makes several materials is traced by its main output
        node = product if ":" in product or not (fac and fac.get("material")) \
            else f"{fid}:{fac['material']}"
        try:
            traced = net.trace(node, period=period)
        except NotFound:
            node = product
            traced = net.trace(node, period=period)
        links, note = origin_links(net, node, period)
        names = dict(zip(net.facilities["id"].astype(str), net.facilities["name"].astype(str),
                         strict=True))
        return {
            "facility": fac,
            "traced": node,
            "trace": rows_of(traced),
            "sankey": _clean(links),
            "sankey_note": note,
            "paths": [
                {"tag": tp.tag, "quantity": _clean(tp.quantity), "paths": [
                    {"nodes": list(p.nodes),
                     "names": [names.get(n.split(":")[0], n) for n in p.nodes],
                     "weight": _clean(p.weight), "residual": p.residual}
                    for p in tp.paths]}
                for tp in heaviest(net, node, tags=3, top=3, period=period,
                                   stages=("mine", "refine"))
            ],
        }

    with s.lock:
        out: dict[str, Any] = s.cached(("productfacts", product, period), facts)
    return out


def _page_answer(s: State, product: str, buyer: str, day: dt.date, period: str | None) -> Answer:
    def make() -> Answer:
        base = _check_body(s, product, buyer, day, period)
        facts = _product_facts(s, product, _period(s, product, period)[0])
        tl = _timeline(s, product, buyer, day, period)
        return encoded({**base, **facts, "timeline": tl}), _audit_rows(s, product, buyer, day,
                                                                         period)

    with s.lock:
        out: Answer = s.cached(("page.json", product, buyer, day, period), make)
    return out


@router.get("/product/{product}", summary="Everything the product page shows (verdicts audited)",
            response_model=None)
async def product_page(
    request: Request, c: Reader, product: Product, buyer: Buyer = "dod", on: On = None,
    period: PeriodQ = None,
) -> Response:
    day = _on(on)
    return await _answer(request, ("page.json", product, buyer, day, period),
                         _page_answer, product, buyer, day, period)


@router.get("/products", summary="The products (cell and pack plants) of the store")
def products_list(request: Request, c: Reader) -> list[dict[str, Any]]:
    from onshore.compliance import products

    s = st(request)

    def make() -> list[dict[str, Any]]:
        net = s.network()
        ids = set(products(net))
        f = net.facilities[net.facilities["id"].astype(str).isin(ids)]
        return rows_of(f[["id", "name", "company", "country", "stage"]])

    out: list[dict[str, Any]] = s.cached("products", make)
    return out


@router.get("/report/{product}", summary="The HTML report of a product (audited)",
            response_class=HTMLResponse)
def report(
    request: Request, c: Reader, product: Product, buyer: Buyer = "dod", on: On = None,
    period: PeriodQ = None,
) -> HTMLResponse:
    from onshore.views.report import render

    s = st(request)
    used, how = _period(s, product, period)
    vs = _check(s, product, buyer, _on(on), used)
    with s.lock:
        text = render(s.network(), product, vs, period=used, period_text=how)
    return HTMLResponse(text)


# --- screening and reviews -------------------------------------------------------------------
class ScreenRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=500)]
    country: Annotated[str, Field(max_length=64)] = ""
    id: Annotated[str, Field(max_length=200)] = ""
    address: Annotated[str, Field(max_length=1000)] = ""


class ScreenRows(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[ScreenRow] = Field(min_length=1, max_length=5000)
    queue: bool = True


def _screen(s: State, c: Caller, rows: list[dict[str, Any]], queue: bool) -> dict[str, Any]:
    from onshore.compliance.screen import pending_pairs, screen
    from onshore.store.reviews import ReviewQueue

    with s.lock:
        out = screen(s.network(), rows)
        added = ReviewQueue(s.store.con).add(pending_pairs(out)) if queue else 0
        if added:
            s.keys.log_write(c.name, "screen", {"rows": len(rows), "queued": added})
    n = {d: sum(r["decision"] == d for r in out) for d in ("match", "review", "no_match")}
    return {"counts": n, "queued": added, "results": _clean(out)}


@router.post("/screen", summary="Screen a supplier list (CSV or XLSX upload with a name column)")
async def screen_file(
    request: Request,
    c: Writer,
    file: Annotated[UploadFile, File(description="CSV or XLSX with a 'name' column")],
    queue: bool = True,
) -> dict[str, Any]:
    import io

    import pandas as pd
    from starlette.concurrency import run_in_threadpool

    s = st(request)
    data = await _read_upload(file, s.settings.max_upload_bytes, 0)
    name = Path(file.filename or "").name.lower()
    try:
        if name.endswith((".xlsx", ".xlsm")):
            df = pd.read_excel(io.BytesIO(data), dtype=str)
        elif name.endswith(".csv"):
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        else:
            raise InputError("give a .csv or .xlsx file")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        if isinstance(e, InputError):
            raise
        raise DataError([RowError(name, None, None, None, f"a readable CSV or XLSX ({e})")]) \
            from None
    df.columns = [str(x).strip().lower() for x in df.columns]
    if "name" not in df.columns:
        raise DataError([RowError(name, 1, "name", ", ".join(df.columns),
                                  "a 'name' column (country, id, address optional)")])
    if len(df) > 5000:
        raise InputError("at most 5000 rows per screen")
    rows = df.fillna("").to_dict("records")
    return await run_in_threadpool(_screen, s, c, rows, queue)


@router.post("/screen/rows", summary="Screen supplier rows given as JSON")
def screen_rows(request: Request, c: Writer, body: ScreenRows) -> dict[str, Any]:
    return _screen(st(request), c, [r.model_dump() for r in body.rows], body.queue)


@router.get("/reviews", summary="Name pairs to review (or every judgement)")
def reviews(request: Request, c: Reader, all: bool = False) -> dict[str, Any]:
    from onshore.store.reviews import ReviewQueue

    s = st(request)
    with s.db() as store:
        q = ReviewQueue(store.con)
        df = q.latest() if all else q.pending()
    return {"rows": rows_of(df.drop(columns=["key"], errors="ignore")) if len(df) else []}


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["same", "different", "unsure"]


@router.post("/reviews/{seq}", summary="Judge one pair: same, different or unsure (audited)")
def decide(
    request: Request, c: Writer, seq: Annotated[int, PathParam(ge=1, le=10**12)], body: Decision
) -> dict[str, Any]:
    from onshore.store.reviews import ReviewQueue

    s = st(request)
    with s.db() as store:
        q = ReviewQueue(store.con)
        rows = q.latest()
        hit = rows[rows["seq"] == seq] if len(rows) else rows
        if not len(hit):
            raise NotFound(f"no review pair {seq}")
        r = q.decide(str(hit.iloc[0]["key"]), str(hit.iloc[0]["candidate"]), body.decision,
                     c.name)
        s.keys.log_write(c.name, "review", {"pair": seq, "decision": body.decision})
        s.reload()
    return {k: _clean(v) for k, v in r.items() if k != "key"}


# --- risk ------------------------------------------------------------------------------------
@router.get("/risk", summary="Concentration (HHI) by material and stage; a product's dependency "
            "and single points of failure")
def risk(
    request: Request,
    c: Reader,
    stage: Annotated[str | None, Query(pattern=r"^[a-z]{1,32}$")] = None,
    product: Annotated[str | None, Query(pattern=PRODUCT)] = None,
    threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.1,
) -> dict[str, Any]:
    from onshore.risk import concentration_table, single_points_of_failure

    s = st(request)

    def make() -> dict[str, Any]:
        net = s.network()
        try:
            from onshore.owners import controlling_country

            control = controlling_country(net)
        except Exception:  # noqa: BLE001  (as the CLI: fall back to each plant's own country)
            control = None
        out: dict[str, Any] = {
            "concentration": rows_of(concentration_table(net, control=control, stage=stage))}
        if product:
            from onshore.risk.concentration import product_dependency

            out["dependency"] = rows_of(product_dependency(net, product))
            out["single_points_of_failure"] = rows_of(
                single_points_of_failure(net, product, threshold=threshold))
        return out

    with s.lock:
        res: dict[str, Any] = s.cached(("risk", stage, product, threshold), make)
    return res


# --- audit -----------------------------------------------------------------------------------
@router.get("/audit", summary="The verdict audit log, newest first (paged)")
def audit(
    request: Request,
    c: Reader,
    offset: Offset = 0,
    limit: Limit = 50,
    product: Annotated[str | None, Query(pattern=PRODUCT)] = None,
    rule_id: Annotated[str | None, Query(pattern=ID)] = None,
) -> dict[str, Any]:
    from onshore.store.audit import AuditLog

    s = st(request)
    sql = "FROM audit WHERE 1=1"
    args: list[str] = []
    if product:
        sql, args = sql + " AND product = ?", [*args, product]
    if rule_id:
        sql, args = sql + " AND rule_id = ?", [*args, rule_id]
    with s.db() as store:
        s.flush_audit()
        AuditLog(store.con)
        total = int(store.con.execute(f"SELECT count(*) {sql}", args).fetchall()[0][0])
        df = store.con.execute(
            f"SELECT * EXCLUDE (prev_hash) {sql} ORDER BY seq DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).df()
    return {"total": total, "offset": offset, "limit": limit, "rows": rows_of(df)}


@router.get("/audit/verify", summary="Recompute the audit hash chain")
def audit_verify(request: Request, c: Reader) -> dict[str, Any]:
    from onshore.store.audit import AuditLog

    with st(request).db() as store:
        st(request).flush_audit()
        problems = AuditLog(store.con).verify()
    return {"intact": not problems, "problems": problems[:100]}


@router.get("/audit/writes", summary="Every write through the server, with the key's name")
def writes(request: Request, c: Reader, offset: Offset = 0, limit: Limit = 50) -> dict[str, Any]:
    s = st(request)
    with s.db():
        total, df = s.keys.writes(offset, limit)
    return {"total": total, "offset": offset, "limit": limit, "rows": rows_of(df)}


# --- keys ------------------------------------------------------------------------------------
class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
    role: Literal["read", "write", "admin"]


@router.get("/keys", summary="The API keys (names and roles, never secrets)")
def keys_list(request: Request, c: Admin) -> list[dict[str, Any]]:
    s = st(request)
    with s.db():
        return rows_of(s.keys.rows())


@router.post("/keys", summary="Create an API key; the secret is shown once", status_code=201)
def keys_create(request: Request, c: Admin, body: NewKey) -> dict[str, str]:
    s = st(request)
    with s.db():
        secret = s.keys.create(body.name, body.role)
        s.keys.log_write(c.name, "key.create", {"name": body.name, "role": body.role})
    return {"name": body.name, "role": body.role, "key": secret}


@router.delete("/keys/{name}", summary="Revoke an API key")
def keys_revoke(
    request: Request, c: Admin, name: Annotated[str, PathParam(pattern=ID)]
) -> dict[str, Any]:
    s = st(request)
    with s.db():
        if not s.keys.revoke(name):
            raise NotFound(f"no live key {name!r}")
        s.key_cache.clear()
        s.keys.log_write(c.name, "key.revoke", {"name": name})
    return {"name": name, "revoked": True}


# --- jobs ------------------------------------------------------------------------------------
SCENARIO_NAME = r"^[a-z0-9_]{1,64}$"


class SimulateJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: Annotated[str | None, Field(pattern=SCENARIO_NAME,
                                          description="A bundled scenario, e.g. graphite_cutoff")] \
        = "graphite_cutoff"
    definition: dict[str, Any] | None = Field(None, description="A scenario given inline")
    draws: Annotated[int, Field(ge=0, le=100_000)] = 0


class PlanJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: Annotated[str | None, Field(pattern=SCENARIO_NAME)] = "ses_korea"
    definition: dict[str, Any] | None = None
    rule_costs: bool = True
    mip_gap: Annotated[float, Field(ge=1e-9, le=0.5)] = 1e-4


class CheckAllJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    buyer: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] = "dod"
    on: dt.date | None = None


def _bundled_data(module: Any, name: str) -> Any:
    import yaml

    p = module.bundled(name)
    if not p.exists():
        raise NotFound(f"no bundled scenario {name!r}")
    return yaml.safe_load(p.read_text(encoding="utf-8"))


@router.post("/jobs/simulate", summary="Simulate an export cut-off (background job)",
             status_code=202)
def job_simulate(request: Request, c: Reader, body: SimulateJob) -> dict[str, Any]:
    from onshore.risk import scenario as rs

    s = st(request)
    if body.draws > s.settings.max_draws:
        raise InputError(f"at most {s.settings.max_draws} draws")
    net = s.network()
    data = body.definition if body.definition is not None else \
        _bundled_data(rs, body.scenario or "graphite_cutoff")
    sc = rs.parse_scenario(data, body.scenario or "scenario", network=net)

    def work(job: Any) -> dict[str, Any]:
        from onshore.risk.cutoff import Simulator

        job.step(0.05, "simulating the scenario as written")
        sim = Simulator(net, sc)
        res = sim.result(sim.run())
        by = res.by_product()
        out: dict[str, Any] = {
            "scenario": sc.name,
            "shortfall": rows_of(by[by["shortfall"] > 0]),
            "recovery": rows_of(res.recovery),
        }
        if body.draws:
            from onshore.risk.montecarlo import monte_carlo

            mc = monte_carlo(net, sc, draws=body.draws, simulator=sim,
                             progress=lambda d, n: job.step(0.1 + 0.9 * d / max(n, 1),
                                                            f"draw {d} of {n}"))
            out["montecarlo"] = {"total": _clean(mc.total()), "products": rows_of(mc.summary())}
        return out

    return s.jobs.submit("simulate", body.model_dump(mode="json"), c.name, work,
                         job_error).public()


@router.post("/jobs/plan", summary="Solve a plan scenario (background job)", status_code=202)
def job_plan(request: Request, c: Reader, body: PlanJob) -> dict[str, Any]:
    from onshore.plan import scenario as ps

    s = st(request)
    data = body.definition if body.definition is not None else \
        _bundled_data(ps, body.scenario or "ses_korea")
    sc = ps.parse_scenario(data, body.scenario or "scenario")
    uses_store = any(p.facility for p in [*sc.plants.values(), *sc.candidates.values()])
    net = s.network() if uses_store else None

    def work(job: Any) -> dict[str, Any]:
        from onshore.plan import plan

        res = plan(sc, net, mip_gap=body.mip_gap, with_rule_costs=body.rule_costs,
                   progress=lambda msg: job.step(None, str(msg)))
        return {**_clean(res.summary()), "binding": _clean(res.binding),
                "notes": _clean(res.notes),
                **{k: rows_of(v) for k, v in res.tables().items()}}

    return s.jobs.submit("plan", body.model_dump(mode="json"), c.name, work, job_error).public()


@router.post("/jobs/check-all", summary="Check every cell and pack product (background job, "
             "audited)", status_code=202)
def job_check_all(request: Request, c: Reader, body: CheckAllJob) -> dict[str, Any]:
    from onshore.rules import bundled

    s = st(request)
    bundled().scopes(body.buyer)
    day = _on(body.on)

    def work(job: Any) -> dict[str, Any]:
        from onshore.compliance import check_all, summary
        from onshore.store.audit import AuditLog

        job.step(0.1, "evaluating every rule over every product")
        with s.lock:
            res = s.cached(("check_all", body.buyer, day),
                           lambda: check_all(s.network(), body.buyer, day))
            job.step(0.9, "writing the audit log")
            from onshore.compliance.evaluate import _audit_row

            s.flush_audit()
            AuditLog(s.store.con).append([_audit_row(v) for vs in res.values() for v in vs])
            names = dict(zip(s.network().facilities["id"].astype(str),
                             s.network().facilities["name"].astype(str), strict=False))
        rows = summary(res)
        for r in rows:
            r["name"] = names.get(r["product"], "")
        return {"buyer": body.buyer, "on": day.isoformat(), "products": rows}

    return s.jobs.submit("check-all", body.model_dump(mode="json"), c.name, work,
                         job_error).public()


@router.get("/jobs", summary="The jobs of this server (without results)")
def jobs_list(request: Request, c: Reader) -> list[dict[str, Any]]:
    return [j.public(with_result=False) for j in st(request).jobs.jobs.values()]


JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$")]


@router.get("/jobs/{job_id}", summary="A job's status, progress and (when done) result")
def job_get(request: Request, c: Reader, job_id: JobId) -> dict[str, Any]:
    job = st(request).jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job.public()


@router.delete("/jobs/{job_id}", summary="Cancel a job")
def job_cancel(request: Request, c: Reader, job_id: JobId) -> dict[str, Any]:
    job = st(request).jobs.cancel(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job.public(with_result=False)
