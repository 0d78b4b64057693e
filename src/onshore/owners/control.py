"""Effective ownership and control over the ownership graph.

Notation (as in input-output economics): ``S[i, j]`` is the share of company ``j`` held
directly by ``i``. The effective (indirect) share of ``i`` in ``j`` is the sum over every
walk ``i -> ... -> j`` of the product of the shares on it,

    E = S + S^2 + S^3 + ... = (I - S)^-1 - I,

the Leontief inverse, solved exactly on cross-holding cycles (strongly connected parts)
and by a finite nilpotent series between them (see :func:`leontief`).

Control follows majority chains: ``i`` controls ``j`` when ``i`` (with the companies it
already controls) holds more than half of ``j``'s votes (voting share, else equity) or
board seats. Each company's *ultimate controller* is the top of its control chain (itself
when nobody controls it); its *controlling country* is that controller's country.

Everything is vectorised over all companies and cached on the network. The foreign-entity
tests built on it are in :mod:`onshore.owners.feoc`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from onshore.errors import DataError, NotFound, RowError
from onshore.network import Network
from onshore.records.frames import positions
from onshore.sparse import reachable

MAJORITY = 0.5


# --------------------------------------------------------------------------------- maths
def leontief(S: sp.spmatrix) -> sp.csr_matrix:
    """The Leontief inverse ``L = (I - S)^-1`` of a sparse holdings matrix, exactly.

    Parameters
    ----------
    S : scipy.sparse matrix, shape (n, n)
        Direct shares, ``S[i, j]`` = share of ``j`` held by ``i``; every cycle's gain < 1.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``L`` with ``L[i, j]`` = sum over walks from ``i`` to ``j`` of the share products
        (``L[i, i]`` >= 1).

    Raises
    ------
    DataError
        When cross-holdings around a cycle do not multiply to less than 100 % (the walk
        sum would not converge).

    Notes
    -----
    Split ``S = D + N`` with ``D`` the entries inside strongly connected components
    (cross-holding cycles) and ``N`` those between them. Then
    ``I - S = (I - D)(I - M)`` with ``M = (I - D)^-1 N`` strictly block-triangular in the
    components' topological order, hence nilpotent, so
    ``(I - M)^-1 = (I + M)(I + M^2)(I + M^4)...`` ends after log2(depth) sparse products.
    ``(I - D)^-1`` is inverted block by block (cycles are small).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> L = leontief(sp.csr_matrix([[0, .5, 0], [0, 0, .5], [0, 0, 0]]))
    >>> float(L[0, 2])
    0.25
    """
    S = sp.coo_matrix(S, dtype=float)
    n = S.shape[0]
    eye = sp.identity(n, format="csr")
    if S.nnz == 0:
        return eye
    _, labels = connected_components(S.tocsr(), directed=True, connection="strong")
    inside = labels[S.row] == labels[S.col]
    N = sp.csr_matrix((S.data[~inside], (S.row[~inside], S.col[~inside])), shape=(n, n))
    P = eye
    if inside.any():
        rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.ones(n)]
        keep = np.ones(n, dtype=bool)
        di, dj, dv = S.row[inside], S.col[inside], S.data[inside]
        order = np.argsort(labels[di], kind="stable")
        di, dj, dv = di[order], dj[order], dv[order]
        bounds = np.flatnonzero(np.diff(labels[di])) + 1
        for bi, bj, bv in zip(
            np.split(di, bounds), np.split(dj, bounds), np.split(dv, bounds), strict=True
        ):
            members = np.flatnonzero(labels == labels[bi[0]])
            pos = {int(m): k for k, m in enumerate(members)}
            block = np.eye(len(members))
            for a, b, v in zip(bi, bj, bv, strict=True):
                block[pos[int(a)], pos[int(b)]] -= v
            if np.max(np.abs(np.linalg.eigvals(np.eye(len(members)) - block))) >= 1 - 1e-12:
                raise DataError(
                    [
                        RowError(
                            "ownership",
                            None,
                            "equity",
                            [str(m) for m in members],
                            "cross-holdings whose shares around the cycle multiply to less "
                            "than 100 %",
                        )
                    ]
                )
            inv = np.linalg.inv(block)
            keep[members] = False
            r, c = np.meshgrid(members, members, indexing="ij")
            rows.append(r.ravel())
            cols.append(c.ravel())
            vals.append(inv.ravel())
        rows[0], cols[0], vals[0] = rows[0][keep], cols[0][keep], vals[0][keep]
        P = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
    M = (P @ N).tocsr()
    M.eliminate_zeros()
    inv_im = eye.copy()
    while M.nnz:
        inv_im = (inv_im + inv_im @ M).tocsr()
        M = (M @ M).tocsr()
        M.eliminate_zeros()
    L: sp.csr_matrix = (inv_im @ P).tocsr()
    return L


def _ultimate(parent: np.ndarray) -> np.ndarray:
    """The root of each node's parent chain (parent -1 means none; cycles stop anywhere)."""
    p = np.where(parent < 0, np.arange(len(parent)), parent)
    for _ in range(64):
        q = p[p]
        if np.array_equal(q, p):
            break
        p = q
    return p


# ---------------------------------------------------------------------------- the graph
@dataclass
class Owners:
    """Ownership and control of every company, computed once per network."""

    ids: np.ndarray
    """Company ids, in index order."""
    index: dict[str, int]
    direct: pd.DataFrame
    """Ownership rows with integer ``i`` (owner), ``j`` (owned) and filled ``eq``, ``vote``,
    ``brd``, ``dbt``."""
    equity: sp.csr_matrix
    """Effective equity ``E[i, j]`` (diagonal dropped)."""
    voting: sp.csr_matrix
    """Effective votes, the same walk sum over voting shares (equity where votes are not given)."""
    parent: np.ndarray
    """Index of each company's direct controller, -1 when none."""
    ultimate: np.ndarray
    """Index of each company's ultimate controller (itself when none)."""
    kind: np.ndarray
    country: np.ndarray
    """Country of incorporation, else headquarters."""
    hq: np.ndarray
    blank: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["row", "owner", "owned"])
    )
    """Ownership rows with no stake recorded (equity, voting and board all blank): ``row`` (the
    table's 0-based position), ``owner``, ``owned``."""
    bound: str = "recorded"
    """``recorded``: a blank stake counts as 0; ``possible``: as the most the holder could hold."""
    maybe: sp.csr_matrix | None = None
    """``maybe[i, j]``: ``i`` may control ``j`` directly: ``i`` controls it on the recorded
    stakes, or holds a blank stake in it while the stakes recorded leave a majority free."""

    def idx(self, company: str) -> int:
        """The index of a company (its row and column in ``equity`` and ``voting``).

        Parameters
        ----------
        company : str
            A company id.

        Returns
        -------
        int
            Its position in ``ids``.

        Raises
        ------
        NotFound
            When the company is not in the store.
        """
        try:
            return self.index[company]
        except KeyError:
            raise NotFound(f"no company {company!r} in the store") from None

    def controls(self, i: int, j: int) -> bool:
        """True when ``i`` is on ``j``'s control chain (``i`` controls ``j``).

        Parameters
        ----------
        i, j : int
            Company indices (see :meth:`idx`).

        Returns
        -------
        bool
            Whether ``i`` is ``j``'s direct controller or a controller further up its chain;
            False for ``i == j`` unless a control cycle leads back to ``j``.
        """
        k = self.parent[j]
        seen = 0
        while k >= 0 and seen < len(self.parent):
            if k == i:
                return True
            k, seen = self.parent[k], seen + 1
        return False

    def control_chain(self, company: str) -> list[str]:
        """``company`` then its controllers up to the ultimate one.

        Parameters
        ----------
        company : str
            A company id.

        Returns
        -------
        list of str
            Company ids, ``company`` first, each followed by its direct controller; stops at the
            ultimate controller (or where a control cycle repeats).

        Raises
        ------
        NotFound
            When the company is not in the store.
        """
        parent, ids = self._chain_lists()
        k = self.idx(company)
        out = [k]
        k = parent[k]
        while k >= 0 and k not in out:
            out.append(k)
            k = parent[k]
        return [ids[k] for k in out]

    def _chain_lists(self) -> tuple[list[int], list[str]]:
        """``parent`` and ``ids`` as Python lists (built once): walking a chain reads them
        item by item."""
        got = self.__dict__.get("_chain_lists_")
        if got is None or len(got[0]) != len(self.parent):
            got = ([int(k) for k in self.parent.tolist()], [str(c) for c in self.ids.tolist()])
            self.__dict__["_chain_lists_"] = got
        out: tuple[list[int], list[str]] = got
        return out

    def controlled_by(self, company: str) -> list[str]:
        """Every company on whose control chain ``company`` stands (its subsidiaries).

        Parameters
        ----------
        company : str
            A company id.

        Returns
        -------
        list of str
            Ids of the companies it controls directly or through controlled companies, in index
            order; empty when it controls none.

        Raises
        ------
        NotFound
            When the company is not in the store.
        """
        i = self.idx(company)
        return [
            str(self.ids[j])
            for j in range(len(self.ids))
            if j != i and self.parent[j] >= 0 and self.controls(i, j)
        ]


def _fill(df: pd.DataFrame, col: str) -> np.ndarray:
    out: np.ndarray = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    return out


def _control_parents(
    n: int, i: np.ndarray, j: np.ndarray, vote: np.ndarray, brd: np.ndarray
) -> np.ndarray:
    """Direct controller per company: majority holder, then majority by controlled groups."""
    parent = np.full(n, -1, dtype=np.int64)
    strength = np.maximum(vote, brd)
    maj = strength > MAJORITY
    if maj.any():
        d = (
            pd.DataFrame({"i": i[maj], "j": j[maj], "s": strength[maj]})
            .sort_values("s")
            .drop_duplicates("j", keep="last")
        )
        parent[d["j"].to_numpy()] = d["i"].to_numpy()
    for _ in range(32):  # holders controlled by one root act together
        root = _ultimate(parent)
        free = parent[j] < 0
        if not free.any():
            break
        g = pd.DataFrame(
            {"j": j[free], "g": root[i[free]], "v": vote[free], "b": brd[free], "i": i[free]}
        )
        g = g[g["g"] != g["j"]]
        agg = g.groupby(["j", "g"], sort=False).agg(v=("v", "sum"), b=("b", "sum"))
        won = agg[(agg["v"] > MAJORITY) | (agg["b"] > MAJORITY)].reset_index()
        if won.empty:
            break
        won = won.sort_values("v").drop_duplicates("j", keep="last")
        # the direct holder within the winning group that holds most, to keep chains readable
        best = (
            g.merge(won[["j", "g"]], on=["j", "g"])
            .sort_values("v")
            .drop_duplicates("j", keep="last")
        )
        parent[best["j"].to_numpy()] = best["i"].to_numpy()
    return parent


Bound = Literal["recorded", "possible"]


def owners(network: Network, bound: Bound = "recorded") -> Owners:
    """Ownership and control of every company in ``network`` (cached on it).

    Parameters
    ----------
    network : Network
        Its ``companies`` and ``ownership`` tables are read.
    bound : {"recorded", "possible"}
        How an ownership row with no stake recorded (equity, voting and board all blank)
        counts: ``recorded`` as 0 (what the data proves), ``possible`` as the most the
        holder could hold, the remainder of the owned company not held by recorded stakes
        (what the data cannot exclude). A test that would change between the two bounds
        cannot be decided from the data.

    Returns
    -------
    Owners
        Effective equity and votes (sparse), direct and ultimate controllers.

    Raises
    ------
    DataError
        When an ownership row names a company that is not in the companies table, or
        cross-holdings around a cycle reach 100 %.
    """
    return network.cached(("owners", bound), lambda: _owners(network, bound))


def _has_blank(own: pd.DataFrame) -> bool:
    """Whether an ownership row records no stake (equity, voting and board all blank)."""
    blank = np.ones(len(own), dtype=bool)
    for col in ("equity", "voting", "board"):
        blank &= np.isnan(_fill(own, col))
    return bool(blank.any())


def _possible(j: np.ndarray, known: np.ndarray, blank: np.ndarray, n: int) -> np.ndarray:
    """The remainder of each owned company not held by recorded stakes, on the blank rows."""
    held = np.bincount(j[~blank], weights=np.nan_to_num(known[~blank]), minlength=n)
    out: np.ndarray = np.clip(1.0 - held, 0.0, 1.0)[j]
    return out


def _owners(network: Network, bound: Bound = "recorded") -> Owners:
    if bound == "possible" and not _has_blank(network.ownership):
        # no blank stake: every stake is what is recorded, and a company may control only
        # what it controls on the recorded stakes
        recorded = owners(network)
        ctl = recorded.parent >= 0
        size = len(recorded.ids)
        maybe = sp.csr_matrix(
            (np.ones(int(ctl.sum())), (recorded.parent[ctl], np.flatnonzero(ctl))),
            shape=(size, size),
        )
        return replace(recorded, bound="possible", maybe=maybe)
    comp = network.companies
    ids = comp["id"].astype(str).to_numpy()
    index = {c: k for k, c in enumerate(ids)}
    n = len(ids)
    own = network.ownership
    keys = pd.Index(ids)  # the last of equal ids, as ``index`` holds it
    i_a, j_a = positions(own["owner"], keys, last=True), positions(own["owned"], keys, last=True)
    bad = (i_a < 0) | (j_a < 0)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataError(
            [
                RowError(
                    "ownership",
                    r,
                    "owner/owned",
                    f"{own['owner'].iloc[r]}->{own['owned'].iloc[r]}",
                    "companies that are in the companies table",
                )
            ]
        )
    eq_raw, vote_raw, brd_raw = _fill(own, "equity"), _fill(own, "voting"), _fill(own, "board")
    blank = np.isnan(eq_raw) & np.isnan(vote_raw) & np.isnan(brd_raw)
    eq = np.nan_to_num(eq_raw)
    vote = np.where(np.isnan(vote_raw), eq, vote_raw)
    brd = np.nan_to_num(brd_raw)
    vote_ctl = vote
    if bound == "possible" and blank.any():
        rem_eq = _possible(j_a, eq, blank, n)
        rem_vote = _possible(j_a, vote, blank, n)
        rem_brd = _possible(j_a, brd, blank, n)
        # each blank holder could hold the whole remainder (control); shared, they hold it once
        shared = np.bincount(j_a[blank], minlength=n)[j_a].clip(1)
        eq = np.where(blank, rem_eq / shared, eq)
        vote = np.where(blank, rem_vote / shared, vote)
        vote_ctl = np.where(blank, rem_vote, vote)
        brd = np.where(blank, rem_brd, brd)
    dbt = np.nan_to_num(_fill(own, "debt"))
    direct = pd.DataFrame({"i": i_a, "j": j_a, "eq": eq, "vote": vote, "brd": brd, "dbt": dbt})

    def effective(w: np.ndarray) -> sp.csr_matrix:
        S = sp.csr_matrix((w, (i_a, j_a)), shape=(n, n))
        E = (leontief(S) - sp.identity(n, format="csr")).tocsr()
        E.setdiag(0)
        E.eliminate_zeros()
        return E

    parent = _control_parents(n, i_a, j_a, vote_ctl, brd)
    country = comp["country"].astype(object).to_numpy()
    hq = comp["hq_country"].astype(object).to_numpy() if "hq_country" in comp else np.full(n, None)
    hq = np.array([h if isinstance(h, str) and h else None for h in hq], dtype=object)
    kind = comp["kind"].fillna("company")
    if pd.api.types.is_string_dtype(kind.dtype) and not pd.api.types.is_object_dtype(kind.dtype):
        kinds = kind.astype(str).to_numpy(dtype=object)  # text as the store holds it
    else:  # records may hold the kind as an enum member
        kinds = np.array([str(getattr(k, "value", k)) for k in kind], dtype=object)
    out = Owners(
        ids,
        index,
        direct,
        effective(eq),
        effective(vote),
        parent,
        _ultimate(parent),
        kinds,
        country,
        hq,
        pd.DataFrame(
            {
                "row": np.flatnonzero(blank),
                "owner": own["owner"].astype(str).to_numpy()[blank],
                "owned": own["owned"].astype(str).to_numpy()[blank],
            }
        ),
        bound,
    )
    if bound == "possible":
        free = blank & (_possible(j_a, np.where(blank, 0.0, vote), blank, n) > MAJORITY)
        rec = _control_parents(n, i_a, j_a, np.where(blank, 0.0, vote), np.where(blank, 0.0, brd))
        has = rec >= 0
        rows = np.concatenate([rec[has], i_a[free]])
        cols = np.concatenate([np.flatnonzero(has), j_a[free]])
        out.maybe = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return out


# ---------------------------------------------------------------------------- questions
def effective_ownership(network: Network, kind: str = "equity") -> pd.DataFrame:
    """Every non-zero effective holding as rows ``owner, owned, share``.

    Parameters
    ----------
    network : Network
    kind : {"equity", "voting"}
        Walk sums over equity shares, or over voting shares (equity where votes are not
        given); any other value gives voting.

    Returns
    -------
    DataFrame
        ``owner``, ``owned`` (company ids) and ``share``, the effective fraction (0 to 1) of
        ``owned`` held by ``owner`` directly or through other companies; self-holdings
        excluded.

    Examples
    --------
    A holds 50 % of B, B 50 % of C: the row (A, C) has share 0.25.
    """
    o = owners(network)
    E = (o.equity if kind == "equity" else o.voting).tocoo()
    return pd.DataFrame({"owner": o.ids[E.row], "owned": o.ids[E.col], "share": E.data})


def ultimate_controller(network: Network) -> dict[str, str]:
    """Company id -> id of its ultimate controller (itself when nobody controls it).

    Parameters
    ----------
    network : Network

    Returns
    -------
    dict of str to str
        Every company id -> the id at the top of its control chain.
    """
    o = owners(network)
    return dict(zip(o.ids.tolist(), o.ids[o.ultimate].tolist(), strict=True))


def controlling_country(network: Network) -> dict[str, str]:
    """Company id -> country of its ultimate controller: the trace's controlling-country hook.

    A state or person controller gives its own country; a company controller its
    headquarters country when recorded, else its country of incorporation.

    Parameters
    ----------
    network : Network

    Returns
    -------
    dict of str to str
        Every company id -> the country code of its ultimate controller.
    """
    o = owners(network)
    root = o.ultimate
    cc = np.where(pd.notna(o.hq[root]), o.hq[root], o.country[root])
    return dict(zip(o.ids.tolist(), [str(c) for c in cc], strict=True))


def affiliates(
    network: Network, entity: str, common_control: bool = True, bound: Bound = "recorded"
) -> dict[str, str]:
    """Companies "controlled by, or under common control with" ``entity``, with the relation.

    Parameters
    ----------
    network : Network
    entity : str
        A company id.
    common_control : bool
        Also include companies under the same ultimate controller and the controllers
        themselves. Common control through a *state* is not counted (every state-owned
        company would be an affiliate of every other); the FEOC tests cover states.
    bound : {"recorded", "possible"}
        Blank stakes as 0, or as the most they could be (see :func:`owners`).

    Returns
    -------
    dict
        company id -> "self", "subsidiary", "controller" or "sister".

    Raises
    ------
    NotFound
        When ``entity`` is not in the store.
    """
    o = owners(network, bound)
    e = o.idx(entity)
    if o.maybe is not None:  # blank stakes: every company e may control, on any such chain
        out = {entity: "self"}
        for j in np.flatnonzero(reachable(o.maybe, np.array([e]), include_sources=False)):
            if j != e:
                out[str(o.ids[j])] = "subsidiary"
        return out
    chain_e = set()
    k = e
    while k >= 0 and k not in chain_e:
        chain_e.add(int(k))
        k = o.parent[k]
    out = {entity: "self"}
    # subsidiaries: e is on their chain
    for j in np.flatnonzero(o.ultimate == o.ultimate[e]):
        if j == e:
            continue
        if o.controls(e, int(j)):
            out[str(o.ids[j])] = "subsidiary"
    if common_control:
        for k in chain_e - {e}:
            if o.kind[k] != "state":
                out[str(o.ids[k])] = "controller"
        root = o.ultimate[e]
        if root != e and o.kind[root] != "state":
            for j in np.flatnonzero(o.ultimate == root):
                out.setdefault(str(o.ids[j]), "sister")
    return out


def upstream_owners(network: Network, company: str) -> pd.DataFrame:
    """Every direct or indirect owner of ``company`` with effective equity, votes and flags.

    Parameters
    ----------
    network : Network
    company : str
        A company id.

    Returns
    -------
    DataFrame
        ``owner, name, kind, country, equity, voting, direct_equity, debt, board,
        controls, ultimate``; the heaviest holders first. ``equity`` and ``voting`` are
        effective fractions (0 to 1), ``direct_equity``, ``board`` and ``debt`` the direct
        row's fractions (0 when it holds only indirectly), ``controls`` whether the owner is
        on the company's control chain, ``ultimate`` whether it is its ultimate controller;
        sorted by ``controls`` then ``equity``, descending.

    Raises
    ------
    NotFound
        When the company is not in the store.
    """
    o = owners(network)
    j = o.idx(company)
    eq, vt = o.equity[:, j].toarray().ravel(), o.voting[:, j].toarray().ravel()
    d = o.direct[o.direct["j"] == j].set_index("i")
    who = np.flatnonzero((eq > 0) | (vt > 0) | np.isin(np.arange(len(o.ids)), d.index))
    names = dict(
        zip(network.companies["id"].astype(str), network.companies["name"].astype(str), strict=True)
    )
    rows = []
    for k in who:
        rows.append(
            {
                "owner": str(o.ids[k]),
                "name": names.get(str(o.ids[k]), ""),
                "kind": o.kind[k],
                "country": o.country[k],
                "equity": float(eq[k]),
                "voting": float(vt[k]),
                "direct_equity": float(d["eq"].get(k, 0.0)),
                "board": float(d["brd"].get(k, 0.0)),
                "debt": float(d["dbt"].get(k, 0.0)),
                "controls": o.controls(int(k), j),
                "ultimate": bool(o.ultimate[j] == k and k != j),
            }
        )
    cols = [
        "owner",
        "name",
        "kind",
        "country",
        "equity",
        "voting",
        "direct_equity",
        "board",
        "debt",
        "controls",
        "ultimate",
    ]
    return pd.DataFrame(rows, columns=cols).sort_values(
        ["controls", "equity"], ascending=False, ignore_index=True
    )


def ownership_paths(
    network: Network, owner: str, owned: str, top: int = 3, max_len: int = 8
) -> list[tuple[list[str], float]]:
    """The heaviest simple ownership chains from ``owner`` to ``owned`` (for evidence).

    Parameters
    ----------
    network : Network
    owner, owned : str
        Company ids.
    top : int
        The most chains returned.
    max_len : int
        The most holding links in a chain.

    Returns
    -------
    list of (list of str, float)
        Chains of company ids, ``owner`` first and ``owned`` last, with their weight: the
        product along the chain of each direct holding's larger of equity and voting share
        (0 to 1); heaviest first. Empty when there is no chain.

    Raises
    ------
    NotFound
        When either company is not in the store.
    """
    o = owners(network)
    src, dst = o.idx(owner), o.idx(owned)
    by_owned = o.direct.groupby("j")
    found: list[tuple[list[str], float]] = []

    def walk(node: int, path: list[int], w: float) -> None:
        if node == src:
            found.append(([str(o.ids[k]) for k in reversed(path)], w))
            return
        if len(path) > max_len or node not in by_owned.groups:
            return
        for _, r in by_owned.get_group(node).iterrows():
            k = int(r["i"])
            if k not in path and max(r["eq"], r["vote"]) > 0:
                walk(k, path + [k], w * max(r["eq"], r["vote"]))

    walk(dst, [dst], 1.0)
    return sorted(found, key=lambda t: -t[1])[:top]


def blank_stakes(network: Network, company: str) -> list[str]:
    """The ownership rows with no stake recorded that could decide who controls ``company``
    (those into a company on its control chain when blank stakes count as the most they
    could be), as text naming the row to complete.

    Parameters
    ----------
    network : Network
    company : str

    Returns
    -------
    list of str
        E.g. ``"ownership gotion -> gotion_morocco: no equity, voting or board share is
        recorded"``, for the rows on the company's possible control chain.
    """
    o = owners(network, "possible")
    if o.blank.empty:
        return []
    chain = set(o.control_chain(company))
    rows = o.blank[o.blank["owned"].isin(chain)]
    return [
        f"ownership {a} -> {b}: no equity, voting or board share is recorded"
        for a, b in zip(rows["owner"], rows["owned"], strict=True)
    ]
