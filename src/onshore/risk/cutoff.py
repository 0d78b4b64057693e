"""What an export cut-off does to each product, month by month.

:func:`simulate` resolves a :class:`~onshore.risk.scenario.Scenario` against the network's
baseline, builds the re-allocation LP of :mod:`onshore.risk.lp` once, and re-solves it
for every month with the month's bounds: cut links capped, substitute capacity ramping up
linearly, buyers drawing their inventories (which are not refilled within the horizon).

Speed (measured on the synthetic networks of the trace benchmark, 10 flows per plant):

- The LP covers only the affected sub-network (customers of cut supply and their
  downstream). With recycling loops that is most of the network, so the per-plant LP has
  one column per link: on 10 k plants 20 k rows x 122 k columns, and a scenario that
  really cuts supply took 44 s there (its re-solves were slower than the first solve).
- **Market pools** (:mod:`onshore.risk.pool`, chosen by ``method="auto"`` above
  :data:`POOL_ABOVE` affected plants when the market is on): plants of one role, country,
  stage, material, final-or-not and set of targeting cut-offs form one unit, sharing out
  production in proportion to baseline. 10 k plants: 1.3 k x 8 k, 0.5 s a scenario; 100 k
  plants / 1 M flows: 2.5 k x 28 k, about 4-5 s, half of it the baseline from the flows.
  Exact where pools are single plants or share one recipe (tests compare both); otherwise
  a documented restriction of the per-plant LP (which may starve some plants of a pool to
  serve others and exploit plant-specific recipes: on the 10 k network it loses about a
  third as much as the pools).
- **Months without an active cut-off are not solved**: the baseline is then optimal (every
  final plant at its baseline, nothing bought, drawn or substituted), so supply is the
  baseline and stocks carry over unchanged; that is exact.
- One HiGHS instance is built per scenario and warm-started across months and Monte
  Carlo draws; months whose bounds equal an earlier one reuse its solution. Keeping
  final plants unpooled (exact objective weights) took 130 s on 100 k plants, so no.

We chose the LP over a closed-form proportional reallocation because it is exact about
substitution and recipes (all inputs needed), and over one LP spanning all months because
only inventories couple months and a myopic draw (use stock when short) is how buyers behave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from onshore.network import Network
from onshore.risk import lp as lpm
from onshore.risk import pool as poolm
from onshore.risk.scenario import Scenario, month_index
from onshore.risk.supply import Baseline, baseline, reach

__all__ = ["CutoffResult", "Simulator", "simulate"]

TOL = 1e-9
POOL_ABOVE = 2000
"""Above this many affected plants (and with the market on) ``method="auto"`` pools them."""


@dataclass
class Cut:
    """One cut-off resolved: the LP columns it bounds and the fraction of baseline kept."""

    x_cols: np.ndarray  # shipment columns on cut links
    x_base: np.ndarray  # their baseline per month
    sell_cols: np.ndarray  # market sales of targeted plants
    sell_base: np.ndarray
    keep: float
    start: int  # month
    months: float  # duration


@dataclass
class CutoffResult:
    """Per product plant and month: baseline, supplied, shortfall; and recovery times."""

    monthly: (
        pd.DataFrame
    )  # product, material, company, country, month, period, baseline, supplied, shortfall, share
    recovery: pd.DataFrame  # product, ..., peak_share, lost, first_month, months_to_recover

    def by_product(self) -> pd.DataFrame:
        """Shortfall per product material and month, with the customers (plants) hit.

        Returns
        -------
        DataFrame
            ``material, month, period, baseline, shortfall`` (summed over the material's product
            plants, in its unit per month), ``share`` = shortfall / baseline (NaN at baseline 0)
            and ``customers_hit``, the comma-separated plants short that month.
        """
        m = self.monthly
        hit = m[m["shortfall"] > TOL]
        g = m.groupby(["material", "month", "period"], as_index=False)[
            ["baseline", "shortfall"]
        ].sum()
        g["share"] = g["shortfall"] / g["baseline"].where(g["baseline"] > 0)
        names = hit.groupby(["material", "month"])["product"].apply(lambda s: ", ".join(sorted(s)))
        g["customers_hit"] = [
            names.get((a, b), "") for a, b in zip(g["material"], g["month"], strict=True)
        ]
        return g


def _period(start: int, k: int) -> str:
    m = start + k
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


@dataclass
class Simulator:
    """A scenario's LP, built once; :meth:`run` simulates one schedule of cut-offs."""

    network: Network
    scenario: Scenario
    method: str = (
        "auto"  # "plant", "pool" (market pools) or "auto" (pools above POOL_ABOVE affected plants)
    )
    base: Baseline = field(init=False)
    _memo: dict[bytes, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        sc, net = self.scenario, self.network
        base = self.base = baseline(net, sc.base_period)
        fac = net.facilities.set_index(net.facilities["id"].astype(str)).reindex(base.ids)
        country = fac["country"].astype(str).to_numpy()
        company = fac["company"].astype(str).to_numpy()
        e = base.edges
        es, ec, emat = e["s"].to_numpy(), e["c"].to_numpy(), e["material"].to_numpy()
        targets = []
        for c in sc.cutoffs:
            kind, ident = c.target
            sup = {"country": country, "company": company, "facility": base.ids}[kind] == ident
            mat_ok = np.isin(emat, c.materials) if c.materials else np.ones(len(e), dtype=bool)
            hit = sup[es] & mat_ok
            if kind == "country" and c.exports_only:
                hit &= country[ec] != ident
            plant = sup & (np.isin(base.material.astype(str), c.materials) if c.materials else True)
            targets.append((hit, plant, c))
        seeds = (
            np.unique(np.concatenate([ec[h] for h, _, _ in targets]))
            if targets
            else np.zeros(0, dtype=np.int64)
        )
        D = reach(base, seeds.astype(np.int64)) if len(seeds) else np.zeros(0, dtype=np.int64)
        inD = np.zeros(len(base.ids), dtype=bool)
        inD[D] = True
        into = inD[ec]
        S = np.unique(es[into & ~inD[es]])
        consumed = set(base.recipe["material"][inD[base.recipe["c"].to_numpy()]])
        spare = base.spare
        inS = np.zeros(len(base.ids), dtype=bool)
        inS[S] = True
        M = np.flatnonzero(
            ~inD & ~inS & (spare > 0) & np.isin(base.material.astype(str), list(consumed))
        )
        shipped = np.bincount(es, minlength=len(base.ids)) > 0
        parts = lpm.Parts(
            D,
            S,
            M,
            e[into].reset_index(drop=True),
            base.recipe[inD[base.recipe["c"].to_numpy()]].reset_index(drop=True),
            ~shipped[D],
        )
        # inventories: stock of input (f, m) in days of its baseline use
        r = parts.recipe
        days = np.zeros(len(r))
        stage = fac["stage"].map(lambda s: str(getattr(s, "value", s))).to_numpy(dtype=object)
        for inv in sc.inventories:
            ok = np.ones(len(r), dtype=bool)
            if inv.material is not None:
                ok &= r["material"].to_numpy() == inv.material
            if inv.stage is not None:
                ok &= stage[r["c"].to_numpy()] == inv.stage
            days = np.where(ok, np.maximum(days, inv.days), days)
        stock0 = days / 365.0 * r["r"].to_numpy() * base.production[r["c"].to_numpy()]
        ncut = len(targets)
        hits = (
            np.stack([h[into] for h, _, _ in targets], axis=1)
            if ncut
            else np.zeros((int(into.sum()), 0), dtype=bool)
        )
        plant_t = (
            np.stack([np.broadcast_to(p, len(base.ids)) for _, p, _ in targets], axis=1)
            if ncut
            else np.zeros((len(base.ids), 0), dtype=bool)
        )
        method = self.method
        if method == "auto":
            method = "pool" if (sc.market and len(D) > POOL_ABOVE) else "plant"
        if method == "pool" and not sc.market:
            raise ValueError("market pools need the market on (market: true); use method='plant'")
        self.method = method
        if method == "pool":
            self.units = poolm.pooled_units(
                parts,
                base.production,
                base.capacity,
                base.material,
                country,
                stage,
                hits,
                plant_t,
                stock0,
            )
        else:
            self.units = poolm.plant_units(
                parts, base.production, base.capacity, base.material, hits, plant_t, stock0
            )
        un = self.units
        self.parts = un.parts
        subs = [s.material for s in sc.substitutes]
        self.lp = lpm.build(
            un.parts, un.production, un.capacity, un.material, subs, sc.market, un.weight
        )
        self.h = self.lp.solver() if len(D) else None
        sellers = getattr(self.lp, "sellers", np.zeros(0, dtype=np.int64))
        xcols = self.lp.blocks["x"].start + np.arange(len(un.parts.edges))
        uq = un.parts.edges["qty"].to_numpy()
        self.cuts = []
        for j, (hit, _plant, c) in enumerate(targets):
            keep = c.cap
            if c.cap_quantity is not None:
                tot = e["qty"].to_numpy()[hit].sum()
                keep = min(1.0, c.cap_quantity / tot) if tot > 0 else 1.0
            hj = un.hits[:, j]
            sk = (
                np.flatnonzero(un.targets[sellers, j])
                if len(sellers)
                else np.zeros(0, dtype=np.int64)
            )
            sell_cols = self.lp.blocks["sell"].start + sk
            self.cuts.append(
                Cut(
                    xcols[hj],
                    uq[hj] / 12.0,
                    sell_cols,
                    self.lp.upper[sell_cols],
                    keep,
                    sc.month_of(c.from_),
                    float(c.months) if c.months is not None else float(sc.horizon),
                )
            )
        self.stock0 = un.stock0
        self.final = D[parts.final]
        # each final plant: the LP column of its unit and its share of the unit's production
        posD = np.full(len(un.production), -1, dtype=np.int64)
        posD[un.parts.D] = np.arange(len(un.parts.D))
        fu = un.unit_of[self.final]
        self.y_col = self.lp.blocks["y"].start + posD[fu]
        self.y_share = base.production[self.final] / np.maximum(un.production[fu], 1e-300)

    def upper(self, k: int, schedule: list[tuple[float, float]], stock: np.ndarray) -> np.ndarray:
        """Column upper bounds in month ``k``; ``schedule`` is (start, months) per cut-off.

        Parameters
        ----------
        k : int
            The simulated month (0 = the scenario's start).
        schedule : list of (float, float)
            Start month and duration in months of each cut-off, in scenario order.
        stock : ndarray
            Inventory left per recipe row, in the material's unit (the ``draw`` bounds).

        Returns
        -------
        ndarray
            The LP's upper bounds with active cut-offs capped, substitute capacity ramped (per
            month) and draws bounded by ``stock``.
        """
        u = self.lp.upper.copy()
        for cut, (start, months) in zip(self.cuts, schedule, strict=True):
            if start <= k < start + months:
                u[cut.x_cols] = np.minimum(u[cut.x_cols], cut.keep * cut.x_base)
                u[cut.sell_cols] = 0.0  # a capped plant ships its share on its own links only
        sc = self.scenario
        sub = u[self.lp.blocks["sub"]]
        for j, s in enumerate(sc.substitutes):
            since = k - sc.month_of(s.from_)
            ramp = 1.0 if s.ramp_months <= 0 else min(1.0, (since + 1) / s.ramp_months)
            sub[j] = 0.0 if since < 0 else ramp * s.capacity / 12.0 * self._sub_factor(j)
        u[self.lp.blocks["draw"]] = stock
        return u

    def _sub_factor(self, j: int) -> float:
        from onshore.records import units

        s = self.scenario.substitutes[j]
        mu = self.network.materials.set_index("id")["unit"].get(s.material)
        return units.factor(s.unit, str(mu)) if (s.unit and isinstance(mu, str)) else 1.0

    def run(self, schedule: list[tuple[float, float]] | None = None) -> np.ndarray:
        """Supplied quantity per month (rows) and final product of ``D`` (columns).

        Parameters
        ----------
        schedule : list of (float, float), optional
            Start month and duration in months of each cut-off; default the scenario's own.

        Returns
        -------
        ndarray, shape (horizon, final plants)
            Supplied quantity in the product's unit per month, at most its baseline; the baseline
            in months without an active cut-off.
        """
        schedule = schedule or [(c.start, c.months) for c in self.cuts]
        H = self.scenario.horizon
        base_m = self.base.production[self.final] / 12.0
        out = np.tile(base_m, (H, 1))
        if self.h is None or not len(self.final):
            return out
        stock = self.stock0.copy()
        draw = self.lp.blocks["draw"]
        for k in range(H):
            if not any(s <= k < s + m for s, m in schedule):
                continue  # no cut-off on: the baseline is optimal, no stock drawn (closed form)
            u = self.upper(k, schedule, stock)
            key = u.tobytes()
            x = self._memo.get(key)
            if x is None:
                x = lpm.solve(self.h, u)
                self._memo[key] = x
            out[k] = np.minimum(x[self.y_col] * self.y_share, base_m)
            stock = np.maximum(stock - x[draw], 0.0)
        return out

    def result(self, supplied: np.ndarray) -> CutoffResult:
        """Tables of a :meth:`run`.

        Parameters
        ----------
        supplied : ndarray, shape (horizon, final plants)
            The output of :meth:`run`.

        Returns
        -------
        CutoffResult
            ``monthly`` (every plant and month, or only rows short above 200 000 rows) and
            ``recovery`` (peak share short, units lost, first month short, months to recover:
            NaN when not recovered within the horizon), most affected first.
        """
        net, base, sc = self.network, self.base, self.scenario
        fac = net.facilities.set_index(net.facilities["id"].astype(str)).reindex(
            base.ids[self.final]
        )
        H, P = supplied.shape
        base_m = np.tile(base.production[self.final] / 12.0, (H, 1))
        start = month_index(sc.start)
        short = np.maximum(base_m - supplied, 0.0)
        short[short < TOL * np.maximum(base_m, 1.0)] = 0.0
        monthly = pd.DataFrame(
            {
                "product": np.tile(base.ids[self.final], H),
                "material": np.tile(base.material[self.final], H),
                "company": np.tile(fac["company"].to_numpy(), H),
                "country": np.tile(fac["country"].to_numpy(), H),
                "month": np.repeat(np.arange(H), P),
                "period": np.repeat([_period(start, k) for k in range(H)], P),
                "baseline": base_m.ravel(),
                "supplied": supplied.ravel(),
                "shortfall": short.ravel(),
            }
        )
        monthly["share"] = monthly["shortfall"] / monthly["baseline"].where(monthly["baseline"] > 0)
        hitm = short > 0
        anyhit = hitm.any(axis=0)
        first = np.where(anyhit, hitm.argmax(axis=0), -1)
        last = np.where(anyhit, H - 1 - hitm[::-1].argmax(axis=0), -1)
        recover = np.where(~anyhit, 0.0, np.where(last + 1 < H, last + 1 - first, np.nan))
        peak = (short / np.where(base_m > 0, base_m, np.inf)).max(axis=0) if H else np.zeros(P)
        rows = {
            "product": base.ids[self.final],
            "material": base.material[self.final],
            "company": fac["company"].to_numpy(),
            "country": fac["country"].to_numpy(),
            "peak_share": peak,
            "lost": short.sum(axis=0),
            "first_month": np.where(anyhit, first, np.nan),
            "months_to_recover": recover,
        }
        recovery = pd.DataFrame(rows)
        recovery = recovery.sort_values(["peak_share", "lost"], ascending=False).reset_index(
            drop=True
        )
        return CutoffResult(
            monthly[monthly["shortfall"] > 0].reset_index(drop=True)
            if len(monthly) > 200_000
            else monthly,
            recovery,
        )


def simulate(network: Network, scenario: Scenario, method: str = "auto") -> CutoffResult:
    """Simulate a scenario month by month; shortfalls per product plant and recovery times.

    Parameters
    ----------
    network : Network
    scenario : Scenario
        See :mod:`onshore.risk.scenario`; its Monte Carlo section is not used here.
    method : {"auto", "plant", "pool"}
        One LP unit per plant, per market pool of like plants, or pools above
        :data:`POOL_ABOVE` affected plants when the market is on.

    Returns
    -------
    CutoffResult
        ``monthly`` (per final-product plant downstream of the cut and month) and
        ``recovery`` (peak share short, total lost, months until supply is whole again;
        ``None`` when not within the horizon).

    Raises
    ------
    ValueError
        When ``method="pool"`` is asked of a scenario with the market off.

    Examples
    --------
    One of two equal graphite suppliers of a cell plant is cut, with no spare capacity
    elsewhere: the cell plant is short by half every month of the cut.
    """
    sim = Simulator(network, scenario, method)
    return sim.result(sim.run())
