"""Monte Carlo cut-offs: sample which cut-offs happen and for how long; shortfall quantiles.

Each draw decides, for every cut-off of the scenario, whether it happens (its
``probability``) and how many whole months it lasts (its ``duration`` distribution, rounded
to months; its ``months`` when no distribution is given). The draw's schedule is simulated
with the scenario's :class:`~onshore.risk.cutoff.Simulator`, built once. Schedules repeat
(durations are whole months), so each distinct schedule is solved once; within it, months
with equal bounds reuse one LP solution. Everything comes from one seeded
``numpy.random.Generator``: a seed gives the same draws on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from onshore.network import Network
from onshore.risk.cutoff import Simulator
from onshore.risk.scenario import Scenario

__all__ = ["MonteCarloResult", "monte_carlo", "sample_schedules"]

QUANTILES = (0.5, 0.9, 0.99)


@dataclass
class MonteCarloResult:
    """Per draw and final-product plant: units lost over the horizon; and summaries."""

    products: np.ndarray  # product plant ids (columns of ``lost``)
    materials: np.ndarray
    baseline: np.ndarray  # per product, units over the horizon
    lost: np.ndarray  # (draws, products)
    schedules: np.ndarray  # (draws, cut-offs): months each cut-off lasted (0 = did not happen)
    seed: int

    def summary(self) -> pd.DataFrame:
        """Per product plant: mean, P50, P90, P99 of the share of horizon supply lost.

        Returns
        -------
        DataFrame
            ``product, material, mean, p50, p90, p99`` (shares 0..1 of the horizon baseline),
            ``p_hit`` (fraction of draws with any loss) and ``mean_lost`` (units over the
            horizon), by descending ``p99`` then ``mean``.
        """
        share = self.lost / np.where(self.baseline > 0, self.baseline, np.nan)
        q = (
            np.quantile(share, QUANTILES, axis=0)
            if len(share)
            else np.zeros((3, len(self.products)))
        )
        out = pd.DataFrame(
            {
                "product": self.products,
                "material": self.materials,
                "mean": share.mean(axis=0),
                "p50": q[0],
                "p90": q[1],
                "p99": q[2],
                "p_hit": (self.lost > 0).mean(axis=0),
                "mean_lost": self.lost.mean(axis=0),
            }
        )
        return out.sort_values(["p99", "mean"], ascending=False).reset_index(drop=True)

    def total(self) -> dict[str, float]:
        """The share of all final products' horizon supply lost: mean and quantiles over draws.

        Returns
        -------
        dict of str to float
            ``draws`` (their number), ``mean``, ``p50``, ``p90``, ``p99`` of the lost share (0..1)
            of the summed horizon baseline; 0 when there are no draws.
        """
        tot = self.lost.sum(axis=1) / max(float(self.baseline.sum()), 1e-300)
        q = np.quantile(tot, QUANTILES) if len(tot) else np.zeros(3)
        return {
            "draws": float(len(tot)),
            "mean": float(tot.mean()) if len(tot) else 0.0,
            "p50": float(q[0]),
            "p90": float(q[1]),
            "p99": float(q[2]),
        }


def sample_schedules(scenario: Scenario, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Months each cut-off lasts in each draw (0 when it does not happen).

    Parameters
    ----------
    scenario : Scenario
    draws : int
        The number of draws.
    rng : numpy.random.Generator
        The source of randomness (consumed cut-off by cut-off).

    Returns
    -------
    ndarray, shape (draws, cut-offs)
        Whole months (durations rounded), 0 where the cut-off does not happen.
    """
    out = np.zeros((draws, len(scenario.cutoffs)))
    for j, c in enumerate(scenario.cutoffs):
        happens = rng.random(draws) < c.probability
        fixed = float(c.months) if c.months is not None else float(scenario.horizon)
        dur = (
            c.duration.sample(rng, draws, fixed)
            if c.duration is not None
            else np.full(draws, fixed)
        )
        out[:, j] = np.where(happens, np.rint(dur), 0.0)
    return out


def monte_carlo(
    network: Network,
    scenario: Scenario,
    draws: int | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    simulator: Simulator | None = None,
) -> MonteCarloResult:
    """Sample ``draws`` cut-off schedules from ``seed`` and simulate each.

    Parameters
    ----------
    network, scenario
        The scenario's ``montecarlo`` section gives the defaults for ``draws`` and ``seed``.
    draws : int, optional
        The number of sampled schedules.
    seed : int, optional
        The seed of the ``numpy.random.Generator`` the schedules are drawn from.
    progress : callable(done, total), optional
        Called after each draw (e.g. to advance a progress bar).
    simulator : Simulator, optional
        A simulator already built for this scenario (to reuse across calls).

    Returns
    -------
    MonteCarloResult
        Units lost per draw and final-product plant over the horizon (baseline minus
        supplied, in the product's unit), with the schedules drawn and the seed.

    Examples
    --------
    One cut-off with probability 0.5 and a uniform 0-12 month duration over a 12 month
    horizon costs on average half of six months of the cut supply.
    """
    draws = draws or scenario.montecarlo.draws
    seed = scenario.montecarlo.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    sim = simulator or Simulator(network, scenario)
    sched = sample_schedules(scenario, draws, rng)
    H = scenario.horizon
    base = sim.base.production[sim.final] / 12.0 * H
    starts = [c.start for c in sim.cuts]
    cache: dict[bytes, np.ndarray] = {}
    lost = np.zeros((draws, len(sim.final)))
    for d in range(draws):
        key = sched[d].tobytes()
        row = cache.get(key)
        if row is None:
            supplied = sim.run(
                [(float(s), float(m)) for s, m in zip(starts, sched[d], strict=True)]
            )
            row = np.maximum(base - supplied.sum(axis=0), 0.0)
            row[row < 1e-9 * np.maximum(base, 1.0)] = 0.0
            cache[key] = row
        lost[d] = row
        if progress is not None:
            progress(d + 1, draws)
    return MonteCarloResult(
        sim.base.ids[sim.final], sim.base.material[sim.final], base, lost, sched, seed
    )
