"""Batch: every rule's finding for every cell and pack product at once (``check --all``).

:func:`onshore.check.check` evaluates one product: it walks the product's upstream plants
and traces it (one solve of ``y = A^T y + e_p`` per product). Over a whole network that is
one walk and one solve per product. Here every quantity a rule compares is computed for
all products together:

* *Is there a plant of kind S in the product's supply chain, and which is the nearest?*
  One multi-source breadth-first search from S along the flows (supplier -> customer),
  carrying the nearest plant of S (fewest flow hops, then lowest facility position: the
  same order in which :meth:`onshore.rules.kinds.Context.upstream` lists plants).
* *Traced shares.* Every threshold a rule compares is a linear functional of the trace:
  the FEOC cost of product ``p`` is ``(L b)_p`` with ``b_u`` the priced value of node ``u``
  when it is a FEOC component plant, and likewise the total, the unknown-origin part and
  the unpriced parts. So one solve of ``X = A X + B`` over all nodes with a handful of
  columns (:func:`onshore.trace.solve`) gives every product's shares.

Verdicts equal those of :func:`~onshore.check.check` (``tests/test_check.py`` compares them
on the reference network and on a synthetic one). Evidence is capped: the nearest plant
that decides, and for traced shares one supply path (greedy heaviest branch of ``L b``)
on PROHIBITED and UNKNOWN verdicts only; each capped verdict says so. Rule kinds without
a batched form here (the cheap per-company kinds, and the 45X ``non_pfe`` measure, which
leaves the product's own plant out of its trace) are evaluated per product with
:mod:`onshore.rules.kinds`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.check import Finding, Outcome, _firm, _not_in_force
from onshore.errors import OnshoreError
from onshore.graph import STAGE_RANK
from onshore.network import Network
from onshore.owners import COVERED_NATIONS
from onshore.rules import Rule
from onshore.rules import kinds as K
from onshore.rules.loader import (
    ContentThresholdByYear,
    EntityList,
    FeocContent,
    NamedEntity,
    OriginCountry,
)

CAPPED = "--all mode: evidence capped to {what}; run `onshore check {product}` for the full evidence"


class Batch:
    """Facility-level reachability and trace columns shared by every rule of one screen."""

    def __init__(self, network: Network, products: list[str]) -> None:
        self.network = network
        self.ctx = K.context(network)
        fac = self.ctx.fac
        self.ids = fac.index.to_numpy(dtype=object).astype(str)
        self.n = len(self.ids)
        self.products = products
        self.pidx = np.array([self.ctx.fidx[p] for p in products], dtype=np.int64)
        up = self.ctx.upstream_graph
        self.down = sp.csr_matrix(up.T)
        coo = up.tocoo()
        other = coo.row != coo.col
        self.has_supplier = np.bincount(coo.row[other], minlength=self.n) > 0
        self.stage = fac["stage"].astype(str).to_numpy()
        self.company = fac["company"].astype(str).to_numpy()
        self.country = fac["country"].astype(str).to_numpy()
        self.material = fac["material"].astype(str).to_numpy()
        self.name = fac["name"].astype(str).to_numpy()
        self._trace: dict[str, Any] | None = None

    # ------------------------------------------------------------------ reachability
    def describe(self, i: int) -> str:
        """:meth:`~onshore.rules.kinds.Context.describe` of facility position ``i``."""
        c = self.company[i]
        return (f"{self.stage[i]} plant {self.ids[i]} ({self.name[i]}, {self.country[i]}) of "
                f"{self.ctx.names.get(c, c)} [{c}]")

    def nearest(self, mask: np.ndarray) -> np.ndarray:
        """For every facility, the nearest plant of ``mask`` among itself and its upstream
        (fewest flow hops, then lowest position), or -1 when there is none."""
        lab = np.full(self.n, -1, dtype=np.int64)
        frontier = np.flatnonzero(mask)
        lab[frontier] = frontier
        seen = mask.astype(bool).copy()
        D = self.down
        while frontier.size:
            sub = D[frontier]
            v = sub.indices
            src = np.repeat(lab[frontier], np.diff(sub.indptr))
            new = ~seen[v]
            v, src = v[new], src[new]
            if not v.size:
                break
            o = np.lexsort((src, v))
            v, src = v[o], src[o]
            first = np.r_[True, v[1:] != v[:-1]]
            v, src = v[first], src[first]
            lab[v] = src
            seen[v] = True
            frontier = v
        return lab

    def at_products(self, a: np.ndarray) -> np.ndarray:
        return a[self.pidx]

    # ---------------------------------------------------------------------- the trace
    def trace(self) -> dict[str, Any]:
        """The graph, the product nodes (-1: no single node; those fall back to ``check``)."""
        if self._trace is None:
            from onshore.graph import graph

            g = graph(self.network)
            nd = g.nodes
            real = ~nd["virtual"].to_numpy()
            fac = nd["facility"].astype(str).to_numpy()
            pos = pd.Series(np.flatnonzero(real), index=fac[real])
            single = pos[~pos.index.duplicated(keep=False)]
            node = np.array([int(single[p]) if p in single.index else -1 for p in self.products], dtype=np.int64)
            self._trace = {"g": g, "node": node}
        return self._trace

    def solve(self, B: sp.csr_matrix) -> np.ndarray:
        from onshore.trace import forward_plan, g_names, solve

        g = self.trace()["g"]
        return np.asarray(solve(forward_plan(g), B, names=g_names(g)))

    def node_fields(self) -> dict[str, np.ndarray]:
        t = self.trace()
        if "fields" not in t:
            g = t["g"]
            nd = g.nodes
            fac_mat = dict(zip(self.ids, self.material, strict=True))
            country = nd["country"].astype(str).to_numpy()
            company = nd["company"].astype(str).to_numpy()
            unk = np.zeros(g.n, dtype=bool)
            for col in (nd["country"], nd["company"]):
                unk |= col.isna().to_numpy() | col.astype(str).str.strip().str.lower().isin(K.UNKNOWN_ORIGIN).to_numpy()
            virtual = nd["virtual"].to_numpy(dtype=bool)
            facility = nd["facility"].astype(str).to_numpy()
            t["fields"] = {
                "stage": nd["stage"].astype(str).to_numpy(), "country": country, "company": company, "unknown": unk,
                "virtual": virtual, "fac_material": np.array([fac_mat.get(f, "") for f in facility], dtype=object),
                "unknown_country": nd["country"].isna().to_numpy()
                | nd["country"].astype(str).str.strip().str.lower().isin(K.UNKNOWN_ORIGIN).to_numpy(),
            }
        out: dict[str, np.ndarray] = t["fields"]
        return out

    def path(self, node: int, X: np.ndarray, b: np.ndarray) -> str:
        """One supply path carrying ``b`` into ``node``: the heaviest branch of ``X = L b`` at each step."""
        g = self.trace()["g"]
        A = g.A
        u, w, walk = node, 1.0, [node]
        while len(walk) < 64:
            lo, hi = A.indptr[u], A.indptr[u + 1]
            cols = A.indices[lo:hi]
            cand = A.data[lo:hi] * X[cols]
            if not cand.size or b[u] >= cand.max():
                break
            k = int(np.argmax(cand))
            w *= float(A.data[lo + k])
            u = int(cols[k])
            walk.append(u)
        t = self.trace()
        if "labels" not in t:
            t["labels"] = np.array(g.labels(), dtype=object)
        return f"path ({w * b[u]:.3g}): {' -> '.join(t['labels'][walk[::-1]])}"


# ============================================================================ rule kinds
def _candidates(b: Batch, named: dict[str, Any], minority: float | None) -> set[str]:
    """Companies that may relate to a named company (itself, its affiliates, >= minority held)."""
    from onshore.owners import affiliates

    ctx = b.ctx
    o = ctx.owners
    out: set[str] = set()
    for e in named:
        out.add(e)
        if ("aff", e) not in ctx.cache:
            ctx.cache[("aff", e)] = affiliates(ctx.network, e)
        out |= set(ctx.cache[("aff", e)])
        if minority is not None:
            row = o.equity[o.idx(e)].tocoo()
            out |= {str(o.ids[j]) for j, v in zip(row.col, row.data, strict=True) if v >= minority}
    return out


def _relation_marks(
    b: Batch, named: dict[str, Any], t: NamedEntity | EntityList, plants: np.ndarray, keep: Callable[[str], bool]
) -> tuple[np.ndarray, dict[str, list[tuple[str, str, str]]]]:
    """Plants whose company has a relation ``keep`` accepts; company -> those relations, in order."""
    mark = np.zeros(b.n, dtype=bool)
    if not named:
        return mark, {}
    cand = _candidates(b, named, t.minority if isinstance(t, NamedEntity) else None)
    rels: dict[str, list[tuple[str, str, str]]] = {}
    for i in np.flatnonzero(plants & np.isin(b.company, list(cand))):
        c = b.company[i]
        if c not in rels:
            rels[c] = [r for r in K._relations(b.ctx, c, named, t) if keep(r[1])]
        mark[i] = bool(rels[c])
    return mark, rels


def named_entity(b: Batch, rule: Rule, on: dt.date) -> list[Finding | None]:
    t = rule.test
    assert isinstance(t, NamedEntity)
    ctx = b.ctx
    plants = np.isin(b.stage, t.produced_by)
    near = b.at_products(b.nearest(plants))
    named, notes = ctx.resolve(t.entities)
    prohibit = {"self", "subsidiary"} | ({"controller", "sister"} if t.affiliates == "common_control" else set())
    pmark, prels = _relation_marks(b, named, t, plants, lambda r: r in prohibit)
    umark, urels = _relation_marks(b, named, t, plants, lambda r: r not in prohibit and r in t.uncertain)
    np_ = b.at_products(b.nearest(pmark)) if pmark.any() else np.full(len(b.pidx), -1)
    nu = b.at_products(b.nearest(umark)) if umark.any() else np.full(len(b.pidx), -1)
    first = min(t.produced_by, key=lambda s: STAGE_RANK.get(s, 99))
    fmark = b.stage == first
    has_first = b.at_products(b.nearest(fmark)) >= 0 if fmark.any() else np.zeros(len(b.pidx), dtype=bool)

    def line(i: int, rels: dict[str, list[tuple[str, str, str]]]) -> str:
        e, rel, chain = rels[b.company[i]][0]
        return f"{b.describe(i)}: {K._REL[rel]} the named entity {named[e].name} ({chain})"

    out: list[Finding | None] = []
    for k, p in enumerate(b.products):
        stages = "/".join(t.produced_by)
        if near[k] < 0:
            out.append(Finding(Outcome.UNKNOWN, f"no {stages} plant is recorded for {p}",
                               settle=[f"record the flows from the {stages} plants into {p}"]))
            continue
        inputs = {"nearest_plant": b.ids[near[k]], "named_companies": sorted(named)}
        unsure = [line(nu[k], urels)] if nu[k] >= 0 else []
        if np_[k] >= 0:
            ev = line(np_[k], prels)
            out.append(Finding(Outcome.PROHIBITED, f"produced by a named entity: {ev}; in force from {rule.effective_from}",
                               [ev, *unsure, CAPPED.format(what="the nearest plant related to a named entity", product=p)],
                               inputs=inputs))
        elif gap := K.named_gap(t, str(b.stage[b.pidx[k]]), {first} if has_first[k] else set(), p):
            out.append(Finding(Outcome.UNKNOWN, gap, [gap, *unsure, *notes,
                                                      CAPPED.format(what="the nearest related plant", product=p)],
                               settle=[K.named_gap_settle(t, p)], inputs=inputs))
        elif unsure or notes:
            out.append(Finding(Outcome.UNKNOWN, K.named_unknown_reason(unsure + notes),
                               unsure + notes + [CAPPED.format(what="the nearest related plant", product=p)],
                               settle=K.named_unknown_settle(), inputs=inputs))
        else:
            m = b.company[near[k]]
            out.append(Finding(Outcome.ALLOWED, K.named_allowed_reason(m, t),
                               [b.describe(near[k]), f"control chain of {m}: {' <- '.join(ctx.owners.control_chain(m))}",
                                CAPPED.format(what=f"the nearest {stages} plant", product=p)], inputs=inputs))
    return out


def entity_list(b: Batch, rule: Rule, on: dt.date) -> list[Finding | None]:
    t = rule.test
    assert isinstance(t, EntityList)
    listed, notes = b.ctx.resolve(t.entities, on)

    def keep(rel: str) -> bool:
        return rel in ("self", "subsidiary") or (t.affiliates == "controlled" and rel == "controller" and t.reach == "maker")

    plants = np.zeros(b.n, dtype=bool)
    plants[b.pidx] = True
    if t.reach != "maker":
        plants[:] = True
    mark, rels = _relation_marks(b, listed, t, plants, keep)
    if t.reach == "maker":
        hit = np.where(mark[b.pidx], b.pidx, -1)
    else:
        hit = b.at_products(b.nearest(mark)) if mark.any() else np.full(len(b.pidx), -1)
    out: list[Finding | None] = []
    for k, p in enumerate(b.products):
        i = b.pidx[k]
        inputs = {"plants": 1 if t.reach == "maker" else "the maker and its upstream", "listed_companies": sorted(listed)}
        if hit[k] >= 0:
            e, rel, chain = rels[b.company[hit[k]]][0]
            h = f"{b.describe(hit[k])}: {K._REL[rel]} {listed[e].name}, on the {t.list} ({chain})"
            out.append(Finding(Outcome.PROHIBITED, h, [h, CAPPED.format(what="the nearest listed plant", product=p)],
                               inputs=inputs))
            continue
        settle, nts = [], list(notes)
        if t.reach == "upstream" and not b.has_supplier[i] and b.stage[i] != "mine":
            settle.append(f"record the supplier flows into {p}")
            nts.append(f"no supplier of {p} is recorded, so listed suppliers cannot be excluded")
        if nts:
            out.append(Finding(Outcome.UNKNOWN, "; ".join(nts), nts, settle or ["entity identities (ids, registry numbers)"],
                               inputs=inputs))
        else:
            out.append(Finding(Outcome.ALLOWED, K.entity_allowed_reason(t),
                               [b.describe(i), CAPPED.format(what="the product's own plant", product=p)], inputs=inputs))
    return out


def _node_values(b: Batch, weight: str) -> tuple[np.ndarray, np.ndarray]:
    """Per node value per unit (cost: price, 1 where unpriced; mass: raw content) and priced flags."""
    from onshore.trace import content

    g = b.trace()["g"]
    if weight == "cost":
        priced = ~np.isnan(g.price)
        return np.where(priced, np.nan_to_num(g.price), 1.0), priced
    return np.asarray(content(g)).sum(axis=1), np.ones(g.n, dtype=bool)


def feoc_content(b: Batch, rule: Rule, on: dt.date) -> list[Finding | None]:
    t = rule.test
    assert isinstance(t, FeocContent)
    ctx = b.ctx
    covered = COVERED_NATIONS
    f = ctx.feoc()
    out: list[Finding | None] = [None] * len(b.products)
    # final assembly by a FEOC (company flag, else operating in a covered nation)
    plants = np.isin(b.stage, t.final_assembly_stages)
    flag = pd.Series(b.company).map(f["feoc"].astype(object)).fillna(False).astype(bool).to_numpy()
    why = np.where(flag, pd.Series(b.company).map(f["reason"]).to_numpy(dtype=object),
                   np.array([f"operates in {c}" if c in covered else "" for c in b.country], dtype=object))
    bad = plants & np.array([bool(w) for w in why])
    near = b.at_products(b.nearest(bad)) if bad.any() else np.full(len(b.pidx), -1)
    for k in map(int, np.flatnonzero(near >= 0)):
        i = near[k]
        out[k] = Finding(Outcome.PROHIBITED, f"final assembly by a FEOC: {b.describe(i)} ({why[i]})",
                         [b.describe(i) + f": {why[i]}"], inputs={"assembly": b.ids[i]})
    # technology licences from a FEOC
    if t.no_feoc_licence:
        for _, r in ctx.network.licences.iterrows():
            since = r.get("since") if isinstance(r.get("since"), str) else "0000"
            until = r.get("until") if isinstance(r.get("until"), str) else "9999"
            live = str(since) <= on.isoformat() and on.isoformat()[: len(str(until))] <= str(until)
            if not (live and bool(f["feoc"].get(str(r["licensor"]), False))):
                continue
            s = plants & ((b.company == str(r["licensee"])) | (b.ids == str(r.get("facility"))))
            if not s.any():
                continue
            reach = b.at_products(b.nearest(s)) >= 0
            for k in map(int, np.flatnonzero(reach)):
                if out[k] is None:
                    out[k] = Finding(Outcome.PROHIBITED, f"technology licensed from the FEOC {r['licensor']} to "
                                     f"{r['licensee']}: {r['technology']}",
                                     [f"licence {r['licensor']} -> {r['licensee']} ({r.get('source')})"])
    rest = [k for k in range(len(out)) if out[k] is None]
    if not rest:
        return out
    # content: FEOC share of the component value, one solve for every product
    tr = b.trace()
    nf = b.node_fields()
    val, priced = _node_values(b, t.basis)
    at = _at(nf["stage"], t.component_stages)
    fbad = np.isin(nf["country"], covered) | pd.Series(nf["company"]).map(f["feoc"].astype(object)).fillna(False).astype(bool).to_numpy()
    ok = at & priced & (val != 0)
    unp = at & ~priced & (val != 0)
    mats = sorted(set(nf["fac_material"][unp & ~nf["virtual"]]))
    cols = [ok * val, (ok & fbad & ~nf["unknown"]) * val, (ok & nf["unknown"]) * val,
            (unp & nf["virtual"]).astype(float)] + [(unp & ~nf["virtual"] & (nf["fac_material"] == m)).astype(float) for m in mats]
    try:
        X = b.solve(sp.csr_matrix(np.column_stack(cols)))
    except OnshoreError as e:
        for k in rest:
            out[k] = K._no_trace(f"the trace could not be computed: {e}")
        return out
    bcol = cols[1]
    comp = "/".join(t.component_stages)
    for k in rest:
        node, p = int(tr["node"][k]), b.products[k]
        if node < 0:
            out[k] = None  # evaluated per product
            continue
        total, bd, unk = (float(X[node, j]) for j in range(3))
        miss = [m for j, m in enumerate(mats) if X[node, 4 + j] > 0]
        if not miss and X[node, 3] > 0:
            miss = ["(unknown suppliers)"]
        if total <= 0 and not miss:
            out[k] = Finding(Outcome.UNKNOWN, f"no {comp} content is traced for {p}",
                             settle=[f"flows or BOMs for the {comp} inputs of {p}"])
            continue
        share = bd / total if total else 0.0
        ushare = unk / total if total else 1.0
        inputs = {"feoc_share": share, "unknown_share": ushare, "basis": t.basis, "unpriced": miss}
        ev = [f"FEOC share of the {comp} {t.basis}: {share:.1%} (limit {t.max_feoc_share:.0%}); "
              f"of unknown origin: {ushare:.1%}" + (f"; unpriced: {', '.join(miss)}" if miss else "")]

        def capped(ev: list[str] = ev, node: int = node, p: str = p, bd: float = bd) -> list[str]:
            path = [b.path(node, X[:, 1], bcol)] if bd > 0 else []
            return ev + path + [CAPPED.format(what="the shares and one FEOC supply path", product=p)]

        if K.feoc_fails(share, t.max_feoc_share):
            out[k] = Finding(Outcome.PROHIBITED, f"{share:.1%} of the {t.basis} of the components comes from FEOC sources "
                             f"({K.feoc_limit(t.max_feoc_share)})", capped(), inputs=inputs)
        elif miss:
            out[k] = Finding(Outcome.UNKNOWN, f"the cost-weighted trace needs prices for {', '.join(miss)}", capped(),
                             settle=[f"prices (and currency) for the materials {', '.join(miss)}"], inputs=inputs)
        elif K.feoc_fails(share + ushare, t.max_feoc_share):
            out[k] = Finding(Outcome.UNKNOWN, f"FEOC share {share:.1%}, but {ushare:.1%} is of unknown origin and could "
                             f"break the limit ({K.feoc_limit(t.max_feoc_share)})", capped(),
                             settle=["the origin of the untraced inputs"], inputs=inputs)
        else:
            out[k] = Finding(Outcome.ALLOWED, f"final assembly by non-FEOC plants, {1 - share:.1%} of the component "
                             f"{t.basis} from non-FEOC sources, no FEOC licence",
                             ev + [CAPPED.format(what="the shares", product=p)], inputs=inputs)
    return out


def _material_keywords(b: Batch, keywords: tuple[str, ...]) -> np.ndarray:
    """Facilities whose material's bill-of-materials closure names a keyword (as ``kinds._bom_has``)."""
    net = b.network
    bm = net.boms
    inputs: dict[str, set[str]] = {}
    for o, i in zip(bm["output"].astype(str), bm["input"].astype(str), strict=True):
        inputs.setdefault(o, set()).add(i)
    m = net.materials
    names = dict(zip(m["id"].astype(str), m["name"].astype(str), strict=True))
    memo: dict[str, bool] = {}

    def has(mat: str) -> bool:
        if mat not in memo:
            seen, frontier = {mat}, {mat}
            while frontier:
                frontier = set().union(*(inputs.get(x, set()) for x in frontier)) - seen
                seen |= frontier
            memo[mat] = any(any(k in f"{x} {names.get(x, '')}".lower() for k in keywords) for x in seen)
        return memo[mat]

    return np.array([has(x) for x in b.material], dtype=bool) if len(b.material) else np.zeros(0, dtype=bool)


def origin_country(b: Batch, rule: Rule, on: dt.date) -> list[Finding | None]:
    t = rule.test
    assert isinstance(t, OriginCountry)
    out: list[Finding | None] = [None] * len(b.products)
    rest = list(range(len(out)))
    if t.materials:
        kw = _material_keywords(b, t.materials)
        has = b.at_products(b.nearest(kw)) >= 0 if kw.any() else np.zeros(len(b.pidx), dtype=bool)
        for k in map(int, np.flatnonzero(~has)):
            out[k] = Finding(Outcome.ALLOWED, f"no {', '.join(t.materials)} material is in the recorded bills of "
                             f"materials or supplier plants of {b.products[k]}")
        rest = [int(k) for k in np.flatnonzero(has)]
    if not rest:
        return out
    from onshore.trace import content

    tr = b.trace()
    g = tr["g"]
    nf = b.node_fields()
    C = np.asarray(content(g))
    raws = [str(r) for r in g.raws]
    mnames = dict(zip(b.network.materials["id"].astype(str).str.lower(), b.network.materials["name"].astype(str).str.lower(),
                      strict=True))
    if t.materials:
        sel = [j for j, r in enumerate(raws) if any(k in f"{r.lower()} {mnames.get(r.lower(), '')}" for k in t.materials)]
    else:
        sel = list(range(len(raws)))
    if t.basis == "cost":
        rp = pd.Series(g.price, index=g.nodes["material"].astype(str).to_numpy()).groupby(level=0).first()
        pr = rp.reindex(raws).to_numpy(dtype=float)
    else:
        pr = np.ones(len(raws))
    priced_r = ~np.isnan(pr)
    at = _at(nf["stage"], t.stages)
    bad = np.isin(nf["country"], t.countries) & ~nf["unknown_country"]
    z = np.zeros(g.n)
    anyq, tot, bq, uq, unp = z.copy(), z.copy(), z.copy(), z.copy(), z.copy()
    for j in sel:
        c = C[:, j]
        v = c * (pr[j] if priced_r[j] else 1.0)
        anyq += np.abs(v)
        if priced_r[j] or t.basis != "cost":
            tot += at * v
            bq += (at & bad) * v
            uq += (at & nf["unknown_country"]) * v
        else:
            unp += at * (c != 0)
    try:
        X = b.solve(sp.csr_matrix(np.column_stack([anyq, tot, bq, uq, unp])))
    except OnshoreError as e:
        for k in rest:
            out[k] = K._no_trace(f"the trace could not be computed: {e}")
        return out
    for k in rest:
        node = int(tr["node"][k])
        if node < 0:
            continue
        a, total, bd, unk, miss = (float(X[node, j]) for j in range(5))
        if t.materials and a <= 0:
            out[k] = Finding(Outcome.ALLOWED, f"no {', '.join(t.materials)} is in the recorded bill of materials of "
                             f"{b.products[k]}")
            continue
        if total <= 0 or miss > 0:
            out[k] = Finding(Outcome.UNKNOWN, "nothing (priced) traced at the stages tested",
                             settle=["flows, BOMs and prices upstream"])
            continue
        inputs = {"share": bd / total, "unknown_share": unk / total}
        ev = [(f"share at {'/'.join(t.stages)} in {', '.join(t.countries)} by {t.basis}: {bd / total:.1%}; "
               f"untraced {unk / total:.1%}")]
        if bd / total > t.max_share + 1e-12:
            out[k] = Finding(Outcome.PROHIBITED, ev[0], ev, inputs=inputs)
        elif (bd + unk) / total > t.max_share + 1e-12:
            out[k] = Finding(Outcome.UNKNOWN, ev[0], ev, settle=["the origin of the untraced inputs"], inputs=inputs)
        else:
            out[k] = Finding(Outcome.ALLOWED, ev[0], ev, inputs=inputs)
    return out


def _raw_prices(b: Batch, basis: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Raw materials, their value per unit (1 where unpriced or by mass) and priced flags, as the trace weights them."""
    g = b.trace()["g"]
    raws = [str(r) for r in g.raws]
    if basis != "cost":
        return raws, np.ones(len(raws)), np.ones(len(raws), dtype=bool)
    rp = pd.Series(g.price, index=g.nodes["material"].astype(str).to_numpy()).groupby(level=0).first()
    pr = rp.reindex(raws).to_numpy(dtype=float)
    priced = ~np.isnan(pr)
    return raws, np.where(priced, np.nan_to_num(pr), 1.0), priced


def content_threshold_by_year(b: Batch, rule: Rule, on: dt.date) -> list[Finding | None]:
    t = rule.test
    assert isinstance(t, ContentThresholdByYear)
    out: list[Finding | None] = [None] * len(b.products)
    years = sorted(y for y in t.thresholds if y <= on.year)
    if not years:
        return [Finding(Outcome.NOT_APPLICABLE, f"no threshold is set for {on.year}") for _ in b.products]
    if t.measure == "non_pfe":
        return out  # excludes the product's own plant from its trace: evaluated per product
    thr = t.thresholds[years[-1]]
    tr = b.trace()
    nf = b.node_fields()
    cost = t.basis == "cost"
    cols: list[np.ndarray] = []
    miss_names: list[str] = []
    if t.measure == "qualifying_country":
        from onshore.trace import content

        good = np.isin(nf["country"], t.countries)
        unk = nf["unknown_country"]
        groups = [(s,) for s in t.stages] if t.either_stage else [tuple(t.stages)]
        if t.either_stage:  # by raw: raw content valued at the raw's price
            C = np.asarray(content(tr["g"]))
            raws, pr, priced = _raw_prices(b, t.basis)
            v_ok = C[:, priced] @ pr[priced]
            for gs in groups:
                at = _at(nf["stage"], gs)
                cols += [at * v_ok, (at & good & ~unk) * v_ok, (at & unk) * v_ok]
            at = _at(nf["stage"], t.stages)
            for j in np.flatnonzero(~priced) if cost else []:
                cols.append(at * C[:, j])
                miss_names.append(raws[j])
        else:
            val, priced_n = _node_values(b, t.basis)
            ok = priced_n & (val != 0)
            at = _at(nf["stage"], t.stages)
            cols += [(at & ok) * val, (at & ok & good & ~unk) * val, (at & ok & unk) * val]
            if cost:
                cols.append((at & ~priced_n & (val != 0)).astype(float))
                miss_names.append("(some inputs)")
    else:  # FEOC content by company and country
        f = b.ctx.feoc()
        bad = np.isin(nf["country"], COVERED_NATIONS) | pd.Series(nf["company"]).map(f["feoc"].astype(object)).fillna(False).astype(bool).to_numpy()
        val, priced_n = _node_values(b, t.basis)
        at = _at(nf["stage"], t.stages)
        ok = at & priced_n & (val != 0)
        unp = at & ~priced_n & (val != 0)
        groups = [tuple(t.stages)]
        cols += [ok * val, (ok & bad & ~nf["unknown"]) * val, (ok & nf["unknown"]) * val]
        mats = sorted(set(nf["fac_material"][unp & ~nf["virtual"]]))
        cols.append((unp & nf["virtual"]).astype(float))
        miss_names.append("(unknown suppliers)")
        for m in mats:
            cols.append((unp & ~nf["virtual"] & (nf["fac_material"] == m)).astype(float))
            miss_names.append(m)
    try:
        X = b.solve(sp.csr_matrix(np.column_stack(cols)))
    except OnshoreError as e:
        return [K._no_trace(f"the trace could not be computed: {e}") for _ in b.products]
    ng = 3 * len(groups)
    for k in range(len(b.products)):
        node = int(tr["node"][k])
        if node < 0:
            continue
        x = X[node]
        miss = [m for j, m in enumerate(miss_names) if x[ng + j] > 0]
        if t.measure not in ("qualifying_country", "non_pfe"):
            real = [m for m in miss if m != "(unknown suppliers)"]
            miss = real or miss
        failed = None
        per_stage, unk_total = [], 0.0
        for gi, gs in enumerate(groups):
            total, gq, uq = x[3 * gi], x[3 * gi + 1], x[3 * gi + 2]
            if total <= 0:
                if t.measure == "qualifying_country":
                    failed = f"nothing traced at stage {gs[0] if t.either_stage else tuple(t.stages)}"
                else:
                    failed = "nothing traced at the stages tested"
                break
            per_stage.append(gq / total)
            unk_total += uq / total
        if failed:
            out[k] = Finding(Outcome.UNKNOWN, failed, settle=["flows and BOMs upstream"])
            continue
        if t.measure == "qualifying_country":
            lo, hi = max(per_stage), min(1.0, sum(per_stage) + unk_total)
        else:
            lo, hi = 1 - (per_stage[0] + unk_total), 1 - per_stage[0]
        if miss:
            out[k] = Finding(Outcome.UNKNOWN, f"the cost-weighted trace needs prices for {', '.join(miss)}",
                             settle=[f"prices (and currency) for the materials {', '.join(miss)}"])
            continue
        inputs = {"low": lo, "high": hi, "threshold": thr, "year": years[-1]}
        ev = [f"{t.measure.replace('_', ' ')} share by {t.basis}: {lo:.1%}" + (f" to {hi:.1%}" if hi - lo > 1e-9 else "")
              + f"; {on.year} threshold {thr:.0%}"]
        if lo >= thr - 1e-12:
            out[k] = Finding(Outcome.ALLOWED, ev[0], ev, inputs=inputs)
        elif hi < thr - 1e-12:
            out[k] = Finding(Outcome.PROHIBITED, ev[0], ev, inputs=inputs)
        else:
            out[k] = Finding(Outcome.UNKNOWN, ev[0] + " (the range straddles the threshold)", ev,
                             settle=["the joint origin of each unit (which mine fed which refinery) or the untraced inputs"],
                             inputs=inputs)
    return out


BATCHED: dict[str, Callable[[Batch, Rule, dt.date], list[Finding | None]]] = {
    "named_entity": named_entity, "entity_list": entity_list, "feoc_content": feoc_content, "origin_country": origin_country,
    "content_threshold_by_year": content_threshold_by_year,
}


def findings(network: Network, rules: list[Rule], products: list[str], on: dt.date) -> dict[str, list[Finding]]:
    """Rule id -> the finding (dates and confirmation applied) for each product, in order.

    The same findings as :func:`onshore.check.evaluate` per product, with capped evidence."""
    b = Batch(network, products)
    out: dict[str, list[Finding]] = {}
    for rule in rules:
        if not rule.in_force(on):
            out[rule.id] = [_not_in_force(rule, on) for _ in products]
            continue
        kind = rule.test.kind
        got: list[Finding | None] = BATCHED[kind](b, rule, on) if kind in BATCHED else [None] * len(products)
        test = K.TESTS[kind]
        out[rule.id] = [_firm(rule, f if f is not None else test(b.ctx, rule, p, on)) for f, p in zip(got, products, strict=True)]
    return out


__all__ = ["BATCHED", "Batch", "findings"]


def _at(stage: np.ndarray, stages: tuple[str, ...] | list[str]) -> np.ndarray:
    """Nodes at the tested stages, and nodes of an unknown stage (as ``kinds._at``)."""
    out: np.ndarray = np.isin(stage, list(stages)) | (stage == "unknown")
    return out
