"""The facts every rule kind reads, computed once per network, and the products one
evaluation covers.

:class:`Context` holds the facility arrays, the supplier graph (customer -> supplier over
every recorded flow), owners, FEOC flags, entity resolution and the trace graph's node
fields; :class:`Products` is the list of products of one call (one product for ``check``,
every cell and pack for ``check --all``) with their positions. Every rule kind is one
function of a :class:`Products`, so ``check`` and ``check --all`` run the same code.

Questions a rule asks of a product's supply chain are answered for all products at once:

* *is there a plant of kind S upstream, and which is the nearest?* one multi-source
  breadth-first search from S along the flows (:meth:`Context.nearest`: fewest flow hops,
  then lowest facility position);
* *what share of the product traces to S?* a linear functional of the trace: one solve of
  ``X = A X + B`` with a few columns (:meth:`Context.solve`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onshore.compliance.names import Candidate, forms_kept
from onshore.errors import OnshoreError, TraceError
from onshore.network import Network
from onshore.owners import (
    Owners,
    affiliates,
    blank_stakes,
    feoc,
    owners,
    ownership_paths,
    prohibited_foreign_entity,
)
from onshore.owners.control import Bound
from onshore.records.frames import positions
from onshore.rules import Entity, EntityList, NamedEntity
from onshore.sparse import bfs_order, nearest_source
from onshore.trace import Graph, content, find_product, forward_plan, graph, raw_prices, solve

UNKNOWN_ORIGIN = {"", "unknown", "?", "??", "none", "nan", "xx"}

CAPPED = (
    "--all mode: evidence capped to {what}; run `onshore check {product}` for the full evidence"
)

REL = {
    "self": "the company is",
    "subsidiary": "controlled by",
    "controller": "the controller of",
    "sister": "under common control with",
    "minority": "held >= 25 % by",
    "possible": "may be controlled by (a stake is not recorded)",
}
"""How a company relates to a named or listed one, in words."""


Where = Literal["facilities", "nodes"]
"""What a per-company array is laid out over: the context's facilities or the trace nodes."""


@dataclass
class Context:
    """Per-network facts the rule kinds share, computed once (see :func:`context`)."""

    network: Network
    owners: Owners
    fac: pd.DataFrame
    """Facilities indexed by id."""
    fidx: dict[str, int]
    upstream_graph: sp.csr_matrix
    """customer -> supplier adjacency over facilities (the flows of ``period``)."""
    names: dict[str, str]
    period: str | None = None
    """The flows' period (those whose period starts with it); None: every period pooled."""
    flow_ends: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), dtype=np.int64))
    """The flows of ``period``: supplier (row 0) and customer (row 1) positions, -1 when
    not a facility."""
    flow_estimate: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Whether each of those flows is an estimate."""
    cache: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fac = self.fac
        self.ids = fac.index.to_numpy(dtype=object).astype(str)
        self.n = len(self.ids)
        coo = self.upstream_graph.tocoo()
        other = coo.row != coo.col
        self.has_supplier = np.bincount(coo.row[other], minlength=self.n) > 0
        self.stage = fac["stage"].astype(str).to_numpy()
        self.company = fac["company"].astype(str).to_numpy()
        self.country = fac["country"].astype(str).to_numpy()
        self.material = fac["material"].astype(str).to_numpy()
        self.name = fac["name"].astype(str).to_numpy()
        self._described: list[str | None] = [None] * self.n
        self.unidentified = _company_is(self.network, self.company, "unidentified")
        """Plants of producers that are not identified (market-pool origins): no entity test
        can clear them."""

    # ---------------------------------------------------------------- facilities
    def describe(self, i: int) -> str:
        """Facility position ``i`` in words: stage, id, name, country and company."""
        text = self._described[i]
        if text is None:
            c = self.company[i]
            text = self._described[i] = (
                f"{self.stage[i]} plant {self.ids[i]} ({self.name[i]}, {self.country[i]}) of "
                f"{self.names.get(c, c)} [{c}]"
            )
        return text

    def upstream(self, product: str) -> np.ndarray:
        """Positions of the product's plant and every plant upstream of it by recorded flows,
        nearest first (by flow hops, then position): the order in which a test reports
        "the first" plant."""
        key = ("up", product)
        if key not in self.cache:
            self.cache[key] = bfs_order(self.upstream_graph, self.fidx[facility_of(product)])
        out: np.ndarray = self.cache[key]
        return out

    def nearest(self, mask: np.ndarray) -> np.ndarray:
        """For every facility, the nearest plant of ``mask`` among itself and its upstream
        (fewest flow hops, then lowest position), or -1 when there is none."""
        return nearest_source(self.down, mask)

    @property
    def down(self) -> sp.csr_matrix:
        """supplier -> customer adjacency over facilities (the transpose of
        :attr:`upstream_graph`), made on first use."""
        if "down" not in self.cache:
            self.cache["down"] = sp.csr_matrix(self.upstream_graph.T)
        out: sp.csr_matrix = self.cache["down"]
        return out

    # ---------------------------------------------------------------- companies
    def feoc(self) -> pd.DataFrame:
        """:func:`~onshore.owners.feoc` of every company (cached)."""
        if "feoc" not in self.cache:
            self.cache["feoc"] = feoc(self.network)
        out: pd.DataFrame = self.cache["feoc"]
        return out

    def _per_company(self, what: str, of: Where, flags: pd.Series) -> np.ndarray:
        """``flags`` (by company id) at each facility (``of="facilities"``) or trace node
        (``of="nodes"``), kept per ``(what, of)``."""
        key = (what, of)
        if key not in self.cache:
            if of == "facilities":
                company = self.company
            elif of == "nodes":
                company = self.node_fields()["company"]
            else:
                raise ValueError(f"of must be 'facilities' or 'nodes', not {of!r}")
            pos = positions(pd.Series(company, dtype=object), flags.index)
            vals = flags.fillna(False).to_numpy(dtype=bool)
            self.cache[key] = np.where(
                pos >= 0, vals[np.maximum(pos, 0)] if len(vals) else False, False
            )
        out: np.ndarray = self.cache[key]
        return out

    def feoc_flag(self, of: Where) -> np.ndarray:
        """Whether the company of each facility (``of="facilities"``) or trace node
        (``of="nodes"``) is a FEOC."""
        return self._per_company("feoc_flag", of, self.feoc()["feoc"])

    def feoc_unsure(self, of: Where) -> np.ndarray:
        """Whether the company of each facility or trace node (``of`` as for
        :meth:`feoc_flag`) may be a FEOC but is not one on the recorded stakes (a blank stake
        could give a covered government its share)."""
        f = self.feoc()
        return self._per_company("feoc_unsure", of, f["possible"] & ~f["feoc"])

    def control_text(self, company: str) -> str:
        """The control chain of a company in words (``a <- b <- c``; kept per company)."""
        key = ("control_text", company)
        if key not in self.cache:
            self.cache[key] = " <- ".join(self.owners.control_chain(company))
        text: str = self.cache[key]
        return text

    def pfe(
        self, ids: list[str], single: float = 0.25, together: float = 0.40, debt: float = 0.15
    ) -> pd.DataFrame:
        """:func:`~onshore.owners.prohibited_foreign_entity` for these listed companies (cached)."""
        key = ("pfe", tuple(sorted(ids)), single, together, debt)
        if key not in self.cache:
            self.cache[key] = prohibited_foreign_entity(
                self.network, list(ids), single, together, debt
            )
        out: pd.DataFrame = self.cache[key]
        return out

    def affiliates(self, entity: str, bound: Bound = "recorded") -> dict[str, str]:
        """:func:`~onshore.owners.affiliates` of a company (cached); ``bound="possible"``
        counts a blank stake as the most it could be."""
        key = ("aff", entity, bound)
        if key not in self.cache:
            self.cache[key] = affiliates(self.network, entity, bound=bound)
        out: dict[str, str] = self.cache[key]
        return out

    def resolve(
        self, entities: tuple[Entity, ...], on: dt.date | None = None
    ) -> tuple[dict[str, Entity], list[str]]:
        """Company id -> entity for entities listed on ``on`` (confirmed matches only); and
        notes on unsure dates. Screened once per (entities, date); callers get their own copies."""
        found, notes, _ = self._resolved(entities, on)
        return dict(found), list(notes)

    def review(
        self, entities: tuple[Entity, ...], on: dt.date | None = None
    ) -> dict[str, tuple[Entity, str]]:
        """Company id -> (entity, why) for companies that may be a listed entity but are not
        confirmed: a name a reviewer must judge (see ``onshore review``), or an entry whose
        listing itself was not read. Only products these companies make or supply turn
        UNKNOWN; a pair judged 'different' is gone, one judged 'same' is a match."""
        return dict(self._resolved(entities, on)[2])

    def _resolved(
        self, entities: tuple[Entity, ...], on: dt.date | None
    ) -> tuple[dict[str, Entity], list[str], dict[str, tuple[Entity, str]]]:
        key = ("resolve", entities, on)
        if key not in self.cache:
            self.cache[key] = self._resolve(entities, on)
        out: tuple[dict[str, Entity], list[str], dict[str, tuple[Entity, str]]]
        out = self.cache[key]
        return out

    def _candidates(self, e: Entity) -> list[Candidate]:
        from onshore.compliance.screen import apply_reviews, company_index, query_key

        idx = company_index(self.network)
        best: dict[str, Candidate] = {}
        if e.company is not None and e.company in idx.by_id:
            best[e.company] = Candidate(
                e.company, e.company, 1.0, "match", {"exact": "company id"}, ("the rule's id",)
            )
        for q in [*e.identifiers, e.name, *e.aliases]:
            for c in idx.candidates(q, e.country, limit=3):
                if c.id not in best or c.score > best[c.id].score:
                    best[c.id] = c
        cands = sorted(best.values(), key=lambda c: (-c.score, c.id))
        reviewed, _ = apply_reviews(
            query_key(e.name), cands, getattr(self.network, "reviews", None)
        )
        # a rule's verdict needs more than a near name: an identifier, the same name in the
        # same country (legal forms aside), or a reviewer's 'same'; the rest is for review
        out = []
        for c in reviewed:
            f = c.features
            firm = (
                f.get("review") == "same"
                or f.get("exact") in ("identifier", "company id")
                or (
                    f.get("exact") in ("letters", "native")
                    and "vs" not in str(f.get("country", ""))
                    and not f.get("short")
                )
            )
            if c.decision == "match" and not firm:
                c = Candidate(c.id, c.name, min(c.score, 0.85), "review", f, c.reasons)
            out.append(c)
        return out

    def _resolve(
        self, entities: tuple[Entity, ...], on: dt.date | None
    ) -> tuple[dict[str, Entity], list[str], dict[str, tuple[Entity, str]]]:
        found: dict[str, Entity] = {}
        notes: list[str] = []
        review: dict[str, tuple[Entity, str]] = {}
        from onshore.compliance.screen import company_index

        if entities:
            company_index(self.network)  # read or built first: its names are not the rules'
        asked = [q for e in entities for q in (*e.identifiers, e.name, *e.aliases)]
        with forms_kept(self.network.plans, asked):  # a ruleset's names, normalised once
            cands_of = [self._candidates(e) for e in entities]
        for e, cands in zip(entities, cands_of, strict=True):
            exact = [c for c in cands if c.decision == "match"]
            if on is not None and not e.listed_on(on):
                if (
                    e.listed_from is not None
                    and on < e.listed_from
                    and not e.date_confirmed
                    and exact
                ):
                    notes.append(
                        f"{e.name} ({', '.join(c.id for c in exact)}) is listed from "
                        f"{e.listed_from} (date unconfirmed); before that date the listing "
                        "cannot be excluded"
                    )
                continue
            where = f" ({e.list}:{e.id})" if e.list else ""
            for c in exact:
                if e.state == "unknown":
                    review.setdefault(
                        c.id,
                        (e, f"is {e.name}{where}, whose listing was not read (state unknown)"),
                    )
                else:
                    found.setdefault(c.id, e)
            for c in cands:
                if c.decision == "review" and c.id not in found:
                    review.setdefault(
                        c.id,
                        (
                            e,
                            (
                                f"resembles {e.name}{where} but is not linked to it (name score "
                                f"{c.score:.2f}: {'; '.join(c.reasons[:2])}); review the pair "
                                f"'{e.name}' / {c.id} with `onshore review`"
                            ),
                        ),
                    )
        # a company already found, or controlled by one found, needs no review
        covered = set(found)
        for fid in found:
            covered |= {a for a, rel in self.affiliates(fid).items() if rel == "subsidiary"}
        return found, notes, {c: v for c, v in review.items() if c not in covered}

    def chain(self, top: str, company: str) -> str:
        """The heaviest ownership path from ``top`` down to ``company``, in words."""
        paths = ownership_paths(self.network, top, company, top=1)
        if not paths:
            return f"{top} -> {company}"
        p, w = paths[0]
        return " -> ".join(p) + f" (product of shares {w:.0%})"

    def relations(
        self, company: str, named: dict[str, Entity], t: NamedEntity | EntityList
    ) -> list[tuple[str, str, str]]:
        """(named company, relation, chain) of ``company`` to each named company it relates to."""
        o = self.owners
        out = []
        j = o.idx(company)
        for e in named:
            if e == company:
                out.append((e, "self", company))
                continue
            rel = self.affiliates(e).get(company)
            if rel == "subsidiary":
                chain = o.control_chain(company)
                out.append((e, "subsidiary", " -> ".join(reversed(chain[: chain.index(e) + 1]))))
            elif rel in ("controller", "sister"):
                out.append(
                    (e, rel, f"{company} and {e} share the controller {o.ids[o.ultimate[j]]}")
                )
            elif isinstance(t, NamedEntity) and o.equity[o.idx(e), j] >= t.minority:
                out.append((e, "minority", self.chain(e, company)))
            elif self.affiliates(e, "possible").get(company) == "subsidiary":
                out.append((e, "possible", "; ".join(blank_stakes(self.network, company))))
        return out

    def candidates(self, named: dict[str, Any], minority: float | None) -> set[str]:
        """Companies that may relate to a named company (itself, its affiliates, >= minority
        held)."""
        o = self.owners
        out: set[str] = set()
        for e in named:
            out.add(e)
            out |= set(self.affiliates(e))
            out |= {c for c, r in self.affiliates(e, "possible").items() if r == "subsidiary"}
            if minority is not None:
                row = o.equity[o.idx(e)].tocoo()
                out |= {
                    str(o.ids[j]) for j, v in zip(row.col, row.data, strict=True) if v >= minority
                }
        return out

    def relation_marks(
        self,
        named: dict[str, Any],
        t: NamedEntity | EntityList,
        plants: np.ndarray,
        keep: Callable[[str], bool],
    ) -> tuple[np.ndarray, dict[str, list[tuple[str, str, str]]]]:
        """Plants whose company has a relation ``keep`` accepts; company -> those relations, in
        order."""
        mark = np.zeros(self.n, dtype=bool)
        if not named:
            return mark, {}
        cand = self.candidates(named, t.minority if isinstance(t, NamedEntity) else None)
        rels: dict[str, list[tuple[str, str, str]]] = {}
        for i in np.flatnonzero(plants & np.isin(self.company, list(cand))):
            c = self.company[i]
            if c not in rels:
                rels[c] = [r for r in self.relations(c, named, t) if keep(r[1])]
            mark[i] = bool(rels[c])
        return mark, rels

    # ---------------------------------------------------------------- the trace
    def graph(self) -> Graph:
        """The trace graph of the network and ``period`` (every period pooled when None)."""
        g: Graph | None = self.cache.get("graph")
        if g is None:
            g = self.cache["graph"] = graph(self.network, self.period)
        return g

    def solve(self, B: sp.csr_matrix) -> np.ndarray:
        """``X = L B`` over every node of the trace graph."""
        g = self.graph()
        return np.asarray(solve(forward_plan(g), B, names=g.labels))

    def node_fields(self) -> dict[str, np.ndarray]:
        """Per trace node: stage, country, company, unknown-origin flags, virtual flag and the
        main material of its facility."""
        if "fields" not in self.cache:
            g = self.graph()
            nd = g.nodes
            unk_country = (
                nd["country"].isna().to_numpy()
                | nd["country"].astype(str).str.strip().str.lower().isin(UNKNOWN_ORIGIN).to_numpy()
            )
            unk = (
                unk_country
                | nd["company"].isna().to_numpy()
                | nd["company"].astype(str).str.strip().str.lower().isin(UNKNOWN_ORIGIN).to_numpy()
            )
            virtual = nd["virtual"].to_numpy(dtype=bool)
            at = self._node_facility(g)
            if at is None:  # node by node from the node table
                stage, country, company, facility = (
                    nd[c].astype(str).to_numpy()
                    for c in ("stage", "country", "company", "facility")
                )
                fac_material = self._at_facilities(nd["facility"], self.material, "")
            else:  # a real node's facility fields are its facility's: taken by position
                v = np.flatnonzero(virtual)
                safe = np.where(virtual, 0, at)

                def per_node(values: np.ndarray, col: str) -> np.ndarray:
                    out = values[safe].astype(object)
                    out[v] = nd[col].iloc[v].astype(str).to_numpy()
                    return out

                stage, country, company = (
                    per_node(getattr(self, c), c) for c in ("stage", "country", "company")
                )
                facility = per_node(self.fac["id"].to_numpy(dtype=object), "facility")
                fac_material = self.material[safe].astype(object)
                fac_material[v] = self._at_facilities(nd["facility"].iloc[v], self.material, "")
            self.cache["fields"] = {
                "stage": stage,
                "country": country,
                "company": company,
                "unknown": unk,
                "virtual": virtual,
                "facility": facility,
                "fac_material": fac_material,
                "unknown_country": unk_country,
            }
        out: dict[str, np.ndarray] = self.cache["fields"]
        return out

    def _node_facility(self, g: Graph) -> np.ndarray | None:
        """Per node of ``g``, the position of its facility (its row of the facilities table,
        which is the context's position when ids are unique; virtual nodes: ``n``), read off
        the node keys; None when the keys are not at hand or ids repeat."""
        key = g.cache.get("key")
        nm = len(self.network.materials)
        if key is None or not nm or not self.n or len(key) != g.n or not self.fac.index.is_unique:
            return None
        out: np.ndarray = np.asarray(key, dtype=np.int64) // nm
        return out

    def _at_facilities(self, ids: pd.Series, values: np.ndarray, absent: object) -> np.ndarray:
        """``values`` (one per facility) at the facilities named by ``ids`` (the last of equal
        ids, as :attr:`fidx`), ``absent`` where an id is not a facility."""
        pos = positions(ids, self.fac.index, last=True)
        out = np.full(len(ids), absent, dtype=object)
        out[pos >= 0] = values[pos[pos >= 0]]
        return out

    def prior_nodes(self) -> np.ndarray:
        """Per trace node: a market-pool node (stage ``market``) or a plant of an
        ``unidentified`` company, whose supply shares are priors (trade or production shares)."""
        if "prior_nodes" not in self.cache:
            nf = self.node_fields()
            self.cache["prior_nodes"] = (nf["stage"] == "market") | _company_is(
                self.network, nf["company"], "unidentified"
            )
        out: np.ndarray = self.cache["prior_nodes"]
        return out

    def estimate_edges(self) -> sp.csr_matrix:
        """The entries of the trace matrix ``A`` that rest on an estimate or a prior.

        An entry (customer node, supplier node) rests on one when the supplier is a market
        pool or an unidentified producer (a prior), or when every flow of the period behind it
        is marked ``estimate`` and the customer has more than one supplier of that material
        (:attr:`~onshore.trace.graph.Graph.estimated`): the trace uses volumes only as
        supplier shares, so an estimated volume matters only where it splits an input between
        suppliers (a sole supplier's share is 1 whatever its volume).
        """
        if "estimate_edges" not in self.cache:
            g = self.graph()
            if g.estimated is None or len(g.estimated) != g.A.nnz:
                raise TraceError("the trace graph has no estimate flag per entry of A")
            A = g.A  # the flags are in the order of A's entries
            mask = self.prior_nodes()[A.indices] | g.estimated
            rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))[mask]
            indptr = np.zeros(A.shape[0] + 1, dtype=A.indptr.dtype)
            np.cumsum(np.bincount(rows, minlength=A.shape[0]), out=indptr[1:])
            self.cache["estimate_edges"] = sp.csr_matrix(
                (A.data[mask], A.indices[mask], indptr), shape=A.shape
            )
        out: sp.csr_matrix = self.cache["estimate_edges"]
        return out

    def estimated(self, col: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Per node, the part of a tested value that comes through an estimated or pool flow.

        ``col`` is the tested value added at each node (a column of ``B``) and ``Y = L col``
        its solve. The value crossing an entry (p, u) that rests on an estimate is
        ``A[p, u] Y[u]``; one more solve carries it to every product, with the value added at
        prior nodes themselves. Paths crossing several estimated entries count once per entry,
        so this is an upper bound (never an understatement) of the value resting on estimates.
        """
        w = self.estimate_edges() @ Y + col * self.prior_nodes()
        if not np.any(w):
            return np.zeros_like(Y)
        X = self.solve(sp.csr_matrix(np.asarray(w, dtype=float).reshape(-1, 1)))
        out: np.ndarray = X[:, 0]
        return out

    def node_values(self, weight: str) -> tuple[np.ndarray, np.ndarray]:
        """Per node, its value per unit (cost: its material's price, 1 where unpriced; mass:
        its raw content) and whether it is priced."""
        g = self.graph()
        if weight == "cost":
            priced = ~np.isnan(g.price)
            return np.where(priced, np.nan_to_num(g.price), 1.0), priced
        return np.asarray(content(g)).sum(axis=1), np.ones(g.n, dtype=bool)

    def raw_prices(self, basis: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Raw materials, their value per unit (1 where unpriced or by mass) and priced flags."""
        raws, pr, priced = raw_prices(self.graph(), basis)
        return raws, pr, priced

    def path(self, node: int, X: np.ndarray, b: np.ndarray) -> str:
        """One supply path carrying ``b`` into ``node``: the heaviest branch of ``X = L b`` at each
        step."""
        g = self.graph()
        step, weight = self._steps(X, b)
        u, w, walk = node, 1.0, [node]
        while len(walk) < 64:
            nxt = step[u]
            if nxt < 0:
                break
            w *= weight[u]
            u = nxt
            walk.append(u)
        if "labels" not in self.cache:
            self.cache["labels"] = g.labels()
        labels = self.cache["labels"]
        return f"path ({w * b[u]:.3g}): {' -> '.join(labels[v] for v in walk[::-1])}"

    def _steps(self, X: np.ndarray, b: np.ndarray) -> tuple[list[int], list[float]]:
        """Per node, the next node of :meth:`path` (the heaviest branch ``A[u, v] X[v]``, the
        first of equal ones; -1 where the node's own ``b`` is at least as heavy or it has no
        input) and the entry of ``A`` taken; kept for the last ``(X, b)``."""
        last = self.cache.get("path_steps")
        if last is not None and last[0] is X and last[1] is b:
            out: tuple[list[int], list[float]] = last[2]
            return out
        A = self.graph().A
        n = A.shape[0]
        cand = A.data * X[A.indices]
        lens = np.diff(A.indptr)
        rows = np.repeat(np.arange(n), lens)
        step = np.full(n, -1, dtype=np.int64)
        weight = np.ones(n)
        has = lens > 0
        if cand.size:
            if np.isnan(cand).any():  # NaN: compare one node at a time, as a walk would
                best = np.array(
                    [cand[A.indptr[u] : A.indptr[u + 1]].max() if has[u] else 0.0 for u in range(n)]
                )
            else:
                best = np.zeros(n)
                best[has] = np.maximum.reduceat(cand, A.indptr[:-1][has])
            first = np.full(n, -1, dtype=np.int64)
            at = np.flatnonzero((cand == best[rows]) | np.isnan(cand))
            r, k = np.unique(rows[at], return_index=True)
            first[r] = at[k]
            go = has & ~(b >= best) & (first >= 0)
            step[go] = A.indices[first[go]]
            weight[go] = A.data[first[go]]
        got = (step.tolist(), weight.tolist())
        self.cache["path_steps"] = (X, b, got)
        return got

    def material_keywords(self, keywords: tuple[str, ...]) -> np.ndarray:
        """Facilities whose material's bill-of-materials closure names a keyword (kept per
        keywords)."""
        key = ("material_keywords", tuple(keywords))
        if key not in self.cache:
            self.cache[key] = self._material_keywords(keywords)
        out: np.ndarray = self.cache[key]
        return out

    def _material_keywords(self, keywords: tuple[str, ...]) -> np.ndarray:
        net = self.network
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
                memo[mat] = any(
                    any(k in f"{x} {names.get(x, '')}".lower() for k in keywords) for x in seen
                )
            return memo[mat]

        return (
            np.array([has(x) for x in self.material], dtype=bool)
            if len(self.material)
            else np.zeros(0, dtype=bool)
        )


def _company_is(network: Network, company: np.ndarray, kind: str) -> np.ndarray:
    """Per company id, whether the companies table gives it ``kind`` (the last row of an id)."""
    comp = network.companies
    is_kind = (comp["kind"].astype(str) == kind).to_numpy(dtype=bool, na_value=False)
    if not is_kind.any():
        return np.zeros(len(company), dtype=bool)
    pos = positions(pd.Series(company, dtype=object), pd.Index(comp["id"].astype(str)), last=True)
    out: np.ndarray = (pos >= 0) & is_kind[np.maximum(pos, 0)]
    return out


def facility_of(product: str) -> str:
    """The plant of a product id (``FACILITY`` or ``FACILITY:MATERIAL``)."""
    return product.split(":", 1)[0]


def context(network: Network, period: str | None = None) -> Context:
    """The shared facts of ``network`` and a period (cached on it per period): the supplier
    graph and the trace graph of the flows whose period starts with ``period`` (every
    period pooled when None)."""
    return network.cached(("compliance.context", period), lambda: _build(network, period))


def latest_year(network: Network, product: str | None = None) -> str | None:
    """The latest year with flows in ``product``'s supply chain: the latest year in which the
    product's plant received supplies (else the latest of its upstream chain), or the latest
    year of the whole network without a product; None when there are no flows."""
    fl = network.flows
    period = fl["period"]
    if product is not None:
        fac = facility_of(product)
        customer = fl["customer"].astype(str)
        into = (customer == fac).to_numpy(dtype=bool, na_value=False)
        if into.any():
            period = period[into]
        else:
            ctx = context(network)
            plants = set(ctx.ids[ctx.upstream(fac)]) if fac in ctx.fidx else set()
            period = period[customer.isin(plants).to_numpy(dtype=bool)]
    years = period.astype(str).str[:4]
    return str(years.max()) if len(years) else None


def decision_period(
    network: Network,
    period: str | None = None,
    product: str | None = None,
    choose: str = "--period to choose",
) -> tuple[str | None, str]:
    """The period to decide ``product`` from and how it was chosen, in words.

    ``period`` when given (an :class:`~onshore.errors.InputError` when no flow is of it);
    else :func:`latest_year` of the product's supply chain (of the whole network without a
    product), or None when there are no flows. ``choose`` says how to pick another period
    (``--period`` for the command line, the ``period`` parameter for the API)."""
    if period:
        years = network.flows["period"].astype(str)
        if not years.str.startswith(period).any():
            from onshore.errors import InputError

            raise InputError(
                f"no flows in period {period!r}; the store's flows are of "
                f"{', '.join(sorted(set(years.str[:4])))}"
            )
        return period, f"flows of {period}"
    latest = latest_year(network, product)
    if latest is None:
        return None, "no flows recorded"
    where = "the product's supply chain" if product else "the store"
    return latest, f"flows of {latest} (the latest year with flows in {where}; {choose})"


def _build(network: Network, period: str | None = None) -> Context:
    fac = network.facilities.copy()
    fac["id"] = fac["id"].astype(str)
    fac = fac.set_index("id", drop=False)
    fidx = dict(zip(fac.index.tolist(), range(len(fac)), strict=True))  # the last of equal ids
    fl = network.flows_of(period)
    # the last of equal ids, as ``fidx`` holds it
    sup, cus = fl["supplier"], fl["customer"]
    if isinstance(sup.dtype, pd.CategoricalDtype) or isinstance(cus.dtype, pd.CategoricalDtype):
        s, c = positions(sup, fac.index, last=True), positions(cus, fac.index, last=True)
    else:  # both ends in one lookup
        ends = positions(pd.concat([sup, cus], ignore_index=True), fac.index, last=True)
        s, c = ends[: len(fl)], ends[len(fl) :]
    ok = (s >= 0) & (c >= 0)
    n = len(fac)
    g = sp.csr_matrix(
        (np.ones(int(ok.sum())), (c[ok].astype(np.int64), s[ok].astype(np.int64))),
        shape=(n, n),
    )
    comp = network.companies
    names = dict(
        zip(comp["id"].astype(str).tolist(), comp["name"].astype(str).tolist(), strict=True)
    )
    estimate = fl["estimate"].fillna(False).astype(bool).to_numpy()
    return Context(
        network, owners(network), fac, fidx, g, names, period, np.vstack([s, c]), estimate
    )


FEW = 8
"""Up to this many products, :meth:`Products.nearest` reads each product's own upstream."""


@dataclass
class Products:
    """The products of one evaluation: their ids, facility positions and trace nodes.

    ``full`` asks for the complete evidence (one product, ``check``); otherwise evidence is
    capped to what decides (``check --all``) and each capped verdict says so."""

    ctx: Context
    ids: list[str]
    full: bool = False

    def __post_init__(self) -> None:
        self.pidx = np.array([self.ctx.fidx[facility_of(p)] for p in self.ids], dtype=np.int64)
        self._node: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def at(self, a: np.ndarray) -> np.ndarray:
        """The entries of a per-facility array at the products."""
        return a[self.pidx]

    def nearest(self, mask: np.ndarray) -> np.ndarray:
        """Per product, the position of the nearest plant of ``mask`` upstream (-1: none).

        For a few products, the first marked plant of each one's upstream order (by flow hops,
        then position, as :meth:`Context.nearest` decides); else one search over every plant."""
        out = np.full(len(self.pidx), -1, dtype=np.int64)
        if not mask.any():
            return out
        if len(self.pidx) > FEW:
            return self.at(self.ctx.nearest(mask))
        for k, p in enumerate(self.ids):
            up = self.ctx.upstream(p)
            hit = up[mask[up]]
            if hit.size:
                out[k] = hit[0]
        return out

    def upstream_marked(self, k: int, mask: np.ndarray) -> list[int]:
        """Positions of the plants of ``mask`` in product ``k``'s supply chain, nearest first."""
        up = self.ctx.upstream(self.ids[k])
        return [int(i) for i in up[mask[up]]]

    def capped(self, what: str, k: int) -> list[str]:
        """The note that evidence was capped to ``what`` (nothing in full mode)."""
        return [] if self.full else [CAPPED.format(what=what, product=self.ids[k])]

    def nodes(self) -> np.ndarray:
        """Per product, its trace node (-1 when the plant makes several materials or none)."""
        if self._node is None:
            nf = self.ctx.node_fields()
            real = ~nf["virtual"]
            fac = nf["facility"]
            got = np.full(len(self.ids), -1, dtype=np.int64)
            if len(self.ids) <= FEW:  # a few products: each plant's nodes by one comparison
                for k, p in enumerate(self.ids):
                    if ":" not in p:
                        at = np.flatnonzero(real & (fac == p))
                        got[k] = at[0] if len(at) == 1 else -1
            else:
                pos = pd.Series(np.flatnonzero(real), index=fac[real])
                single = pos[~pos.index.duplicated(keep=False)]
                at = single.index.get_indexer(pd.Index(self.ids, dtype=object))
                got[at >= 0] = single.to_numpy(dtype=np.int64)[at[at >= 0]]
            g = self.ctx.graph()
            self._node = np.array(
                [g.node(p) if ":" in p else int(got[k]) for k, p in enumerate(self.ids)],
                dtype=np.int64,
            )
        return self._node

    def untraceable(self, k: int) -> str:
        """Why product ``k`` has no single trace node, as the trace itself says it."""
        try:
            find_product(self.ctx.network, self.ids[k], self.ctx.period)
        except OnshoreError as e:
            return f"the trace could not be computed: {e}"
        return "the trace could not be computed"


def at_stages(stage: np.ndarray, stages: tuple[str, ...] | list[str]) -> np.ndarray:
    """Nodes at the tested stages, and nodes of an unknown stage (an input that no plant in
    the network is recorded to make could be any stage, so it may never make a verdict ALLOWED)."""
    out: np.ndarray = np.isin(stage, list(stages)) | (stage == "unknown")
    return out
