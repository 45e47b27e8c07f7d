"""Point-mass exterior ballistics: gravity and quadratic drag in an exponential atmosphere.

The model (docs/methods.md, "Ballistics"): a projectile of mass m, calibre d and drag coefficient
Cd moves under

    dv/dt = -g ẑ - k ρ(z) |v| v,    k = Cd · (π d²/4) / (2 m)  [m²/kg],
    ρ(z) = ρ0 · exp(-z / H)          (ρ0 = 1.225 kg/m³, H = 8,500 m by default),

over a flat Earth (no curvature, rotation or wind), with Cd constant (no Mach dependence). Rockets
are treated as point masses leaving the launcher at their burnout speed. The figures per weapon
class (muzzle speed, mass, calibre, Cd, elevation limits) come from `truceline.weapons`.

Two ways to compute:

- exact functions (`fly`, `impact`, `max_range`, `solve_elevation`, `time_of_flight`), which
  integrate with SciPy's DOP853 to a relative tolerance of 1e-10: for single shots and fits
  (radar backtracking integrates a measured state backwards with `fly(..., backward=True)`);
- `BallisticTable`, a vectorised table over a grid of elevations (fixed-step RK4, 512 steps per
  trajectory) that answers many shots at once: elevation and time of flight for a range, and the
  position along the trajectory at a time. It agrees with the exact functions within 0.1% in
  range (1e-5 above a few degrees of elevation) and a few milliseconds in time of flight
  (tests/sim/test_ballistics.py).

Coordinates: `x` downrange and `z` up from the launch point, metres; 3-D states are
(east, north, up) in a local frame, metres and m/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, minimize_scalar

G0_MPS2 = 9.80665
"""Standard gravity, m/s²."""

Branch = Literal["low", "high"]


@dataclass(frozen=True, slots=True)
class Atmosphere:
    """An exponential atmosphere: ρ(z) = density_kgpm3 · exp(-z / scale_height_m)."""

    density_kgpm3: float = 1.225
    scale_height_m: float = 8500.0

    def density(self, height_m: ArrayLike) -> NDArray[np.float64]:
        """Air density at `height_m` above the launch point, kg/m³."""
        return self.density_kgpm3 * np.exp(-np.asarray(height_m, dtype=float) / self.scale_height_m)


STANDARD_ATMOSPHERE = Atmosphere()


@dataclass(frozen=True, slots=True)
class Projectile:
    """A projectile as a point mass: speed leaving the barrel or launcher (m/s), mass (kg),
    calibre (mm), drag coefficient (dimensionless), and the elevations it can be fired at (deg)."""

    muzzle_velocity_mps: float
    mass_kg: float
    caliber_mm: float
    drag_coefficient: float
    min_elevation_deg: float = 0.05
    max_elevation_deg: float = 85.0

    @property
    def drag_factor_m2pkg(self) -> float:
        """k = Cd · A / (2 m), m²/kg; the drag deceleration is k ρ |v| v."""
        area_m2 = np.pi * (self.caliber_mm / 1000.0) ** 2 / 4.0
        return float(self.drag_coefficient * area_m2 / (2.0 * self.mass_kg))

    @classmethod
    def for_weapon(cls, weapon) -> Projectile:
        """The projectile of a `truceline.weapons.WeaponClass` that has ballistic figures."""
        if weapon.muzzle_velocity_mps is None:
            raise ValueError(f"weapon class '{weapon.id}' has no ballistic figures")
        return cls(
            muzzle_velocity_mps=weapon.muzzle_velocity_mps,
            mass_kg=weapon.mass_kg,
            caliber_mm=weapon.caliber_mm,
            drag_coefficient=weapon.drag_coefficient,
            min_elevation_deg=weapon.min_elevation_deg,
            max_elevation_deg=weapon.max_elevation_deg,
        )


# -- exact integration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """A solved flight: times (s) and states (east, north, up, v_east, v_north, v_up), with a
    dense interpolant `state_at(t)`."""

    t_s: NDArray[np.float64]
    states: NDArray[np.float64]
    _dense: object = field(repr=False)

    @property
    def end(self) -> NDArray[np.float64]:
        """The final state (at the height the flight was integrated to)."""
        return self.states[:, -1]

    @property
    def duration_s(self) -> float:
        return float(abs(self.t_s[-1] - self.t_s[0]))

    def state_at(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """States at times `t_s` (within the flight), shape (6, n)."""
        return np.asarray(self._dense(np.atleast_1d(np.asarray(t_s, dtype=float))))


def _rhs(k_m2pkg: float, atmosphere: Atmosphere):
    rho0, scale = atmosphere.density_kgpm3, atmosphere.scale_height_m

    def rhs(_t: float, s: NDArray[np.float64]) -> NDArray[np.float64]:
        v = s[3:]
        drag = k_m2pkg * rho0 * np.exp(-s[2] / scale) * np.sqrt(v @ v)
        return np.array([v[0], v[1], v[2], -drag * v[0], -drag * v[1], -drag * v[2] - G0_MPS2])

    return rhs


def fly(
    projectile: Projectile,
    position_m: ArrayLike,
    velocity_mps: ArrayLike,
    *,
    to_height_m: float = 0.0,
    backward: bool = False,
    atmosphere: Atmosphere = STANDARD_ATMOSPHERE,
    max_time_s: float = 3600.0,
    rtol: float = 1e-10,
) -> Trajectory:
    """Integrate from a state (east, north, up in m; velocity in m/s) until the projectile
    reaches `to_height_m`: descending, forward in time; or, with `backward`, going back in time
    (for tracing a measured state back to its launch height). Raises `ValueError` if the height is
    not reached within `max_time_s`."""
    state = np.concatenate([np.asarray(position_m, float), np.asarray(velocity_mps, float)])

    def reach(_t: float, s: NDArray[np.float64]) -> float:
        return s[2] - to_height_m

    reach.terminal = True
    reach.direction = 0.0 if backward else -1.0
    end = -max_time_s if backward else max_time_s
    sol = solve_ivp(
        _rhs(projectile.drag_factor_m2pkg, atmosphere),
        (0.0, end),
        state,
        method="DOP853",
        rtol=rtol,
        atol=1e-9,
        events=reach,
        dense_output=True,
    )
    if sol.status != 1:
        raise ValueError(f"height {to_height_m} m not reached within {max_time_s} s")
    t = np.append(sol.t[:-1], sol.t_events[0][0])
    states = np.column_stack([sol.y[:, :-1], sol.y_events[0][0]])
    return Trajectory(t, states, sol.sol)


def shoot(
    projectile: Projectile, elevation_deg: float, *, atmosphere: Atmosphere = STANDARD_ATMOSPHERE
) -> Trajectory:
    """The flight from (0, 0, 0) at `elevation_deg`, fired north (+y), back to height 0."""
    el = np.radians(elevation_deg)
    v0 = projectile.muzzle_velocity_mps
    return fly(
        projectile, (0.0, 0.0, 0.0), (0.0, v0 * np.cos(el), v0 * np.sin(el)), atmosphere=atmosphere
    )


def impact(
    projectile: Projectile, elevation_deg: float, *, atmosphere: Atmosphere = STANDARD_ATMOSPHERE
) -> tuple[float, float]:
    """(range_m, time_of_flight_s) of a shot at `elevation_deg` on flat ground."""
    traj = shoot(projectile, elevation_deg, atmosphere=atmosphere)
    return float(traj.end[1]), traj.duration_s


def max_range(
    projectile: Projectile, *, atmosphere: Atmosphere = STANDARD_ATMOSPHERE
) -> tuple[float, float]:
    """(elevation_deg, range_m) of the longest shot within the projectile's elevation limits."""
    lo, hi = projectile.min_elevation_deg, projectile.max_elevation_deg
    res = minimize_scalar(
        lambda e: -impact(projectile, e, atmosphere=atmosphere)[0],
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    best_el = float(res.x)
    # The optimum may sit on a limit (a gun that cannot elevate to its ballistic optimum).
    candidates = [(best_el, -float(res.fun))]
    for limit in (lo, hi):
        candidates.append((limit, impact(projectile, limit, atmosphere=atmosphere)[0]))
    return max(candidates, key=lambda c: c[1])


def solve_elevation(
    projectile: Projectile,
    range_m: float,
    branch: Branch = "low",
    *,
    atmosphere: Atmosphere = STANDARD_ATMOSPHERE,
    xtol_deg: float = 1e-9,
) -> float:
    """The elevation (deg) that lands a shot at `range_m` on flat ground: the `low` branch (below
    the maximum-range elevation; guns, rockets) or the `high` one (mortars, plunging fire).
    Raises `ValueError` if the range is out of reach on that branch."""
    best_el, best_range = max_range(projectile, atmosphere=atmosphere)
    lo, hi = (
        (projectile.min_elevation_deg, best_el)
        if branch == "low"
        else (best_el, projectile.max_elevation_deg)
    )
    r_lo = impact(projectile, lo, atmosphere=atmosphere)[0]
    r_hi = impact(projectile, hi, atmosphere=atmosphere)[0]
    if not min(r_lo, r_hi) <= range_m <= max(r_lo, r_hi):
        raise ValueError(
            f"range {range_m:.0f} m is outside {min(r_lo, r_hi):.0f}-"
            f"{max(r_lo, r_hi):.0f} m on the {branch} branch "
            f"(maximum {best_range:.0f} m at {best_el:.2f}°)"
        )
    return float(
        brentq(
            lambda e: impact(projectile, e, atmosphere=atmosphere)[0] - range_m,
            lo,
            hi,
            xtol=xtol_deg,
            rtol=1e-14,
        )
    )


def time_of_flight(
    projectile: Projectile,
    range_m: float,
    branch: Branch = "low",
    *,
    atmosphere: Atmosphere = STANDARD_ATMOSPHERE,
) -> float:
    """Time of flight (s) of the shot that lands at `range_m` on the given branch."""
    el = solve_elevation(projectile, range_m, branch, atmosphere=atmosphere)
    return impact(projectile, el, atmosphere=atmosphere)[1]


# -- the vectorised table ----------------------------------------------------------------------

TABLE_STEP_DEG = 0.1
"""Spacing of the elevation grid of a `BallisticTable`, degrees."""
TABLE_SAMPLES = 129
"""Samples stored per trajectory, at times t = τ · T for τ = 0, 1/128, ..., 1."""
_STEPS = 512  # RK4 steps per trajectory in the second pass (a multiple of TABLE_SAMPLES - 1)


def _rk4_flights(
    k_m2pkg: float,
    atmosphere: Atmosphere,
    v0: float,
    el_rad: NDArray[np.float64],
    dt: NDArray[np.float64],
    steps: int,
    keep_every: int,
) -> tuple[NDArray[np.float64], ...]:
    """Integrate all elevations at once with per-trajectory step `dt` for `steps` steps; return
    x, z, vx, vz at every `keep_every`-th step (shape (n, steps // keep_every + 1))."""
    rho0, scale = atmosphere.density_kgpm3, atmosphere.scale_height_m

    def deriv(z, vx, vz):
        drag = k_m2pkg * rho0 * np.exp(-z / scale) * np.hypot(vx, vz)
        return -drag * vx, -drag * vz - G0_MPS2

    n = el_rad.size
    x = np.zeros(n)
    z = np.zeros(n)
    vx = v0 * np.cos(el_rad)
    vz = v0 * np.sin(el_rad)
    out = np.empty((4, n, steps // keep_every + 1))
    out[:, :, 0] = x, z, vx, vz
    for step in range(1, steps + 1):
        ax1, az1 = deriv(z, vx, vz)
        vx2, vz2 = vx + 0.5 * dt * ax1, vz + 0.5 * dt * az1
        ax2, az2 = deriv(z + 0.5 * dt * vz, vx2, vz2)
        vx3, vz3 = vx + 0.5 * dt * ax2, vz + 0.5 * dt * az2
        ax3, az3 = deriv(z + 0.5 * dt * vz2, vx3, vz3)
        vx4, vz4 = vx + dt * ax3, vz + dt * az3
        ax4, az4 = deriv(z + dt * vz3, vx4, vz4)
        x = x + dt / 6 * (vx + 2 * vx2 + 2 * vx3 + vx4)
        z = z + dt / 6 * (vz + 2 * vz2 + 2 * vz3 + vz4)
        vx = vx + dt / 6 * (ax1 + 2 * ax2 + 2 * ax3 + ax4)
        vz = vz + dt / 6 * (az1 + 2 * az2 + 2 * az3 + az4)
        if step % keep_every == 0:
            out[:, :, step // keep_every] = x, z, vx, vz
    return tuple(out)


@dataclass(frozen=True)
class BallisticTable:
    """Trajectories of one projectile over a grid of elevations, for many shots at once.

    `elevation_deg` (n), `range_m` (n), `time_of_flight_s` (n); `x_m`, `z_m` (n, 129): downrange
    distance and height at t = τ · time_of_flight for τ = 0 ... 1. `best` is the index of the
    longest shot: the low branch is `[:best + 1]`, the high branch `[best:]`.
    """

    projectile: Projectile
    elevation_deg: NDArray[np.float64]
    range_m: NDArray[np.float64]
    time_of_flight_s: NDArray[np.float64]
    x_m: NDArray[np.float64]
    z_m: NDArray[np.float64]
    best: int

    @classmethod
    def build(
        cls, projectile: Projectile, atmosphere: Atmosphere = STANDARD_ATMOSPHERE
    ) -> BallisticTable:
        return _table(projectile, atmosphere)

    @property
    def max_range_m(self) -> float:
        return float(self.range_m[self.best])

    def _branch(self, branch: Branch) -> slice:
        return slice(0, self.best + 1) if branch == "low" else slice(self.best, None)

    def reach_m(self, branch: Branch = "low") -> tuple[float, float]:
        """The (shortest, longest) range reachable on a branch, m."""
        r = self.range_m[self._branch(branch)]
        return float(r.min()), float(r.max())

    def flight_s(self, branch: Branch = "low") -> tuple[float, float]:
        """The (shortest, longest) time of flight on a branch, s (`solve` gives no other)."""
        tof = self.time_of_flight_s[self._branch(branch)]
        return float(tof.min()), float(tof.max())

    def solve(
        self, range_m: ArrayLike, branch: Branch = "low"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(elevation_deg, time_of_flight_s) for each range; ranges outside the branch's reach
        are clipped to it."""
        sl = self._branch(branch)
        r, el, tof = self.range_m[sl], self.elevation_deg[sl], self.time_of_flight_s[sl]
        if branch == "high":  # range falls with elevation on the high branch
            r, el, tof = r[::-1], el[::-1], tof[::-1]
        r = np.maximum.accumulate(r)  # guard against round-off at the flat top
        q = np.clip(np.asarray(range_m, dtype=float), r[0], r[-1])
        return np.interp(q, r, el), np.interp(q, r, tof)

    def position(
        self, elevation_deg: ArrayLike, t_s: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(downrange_m, height_m) at time `t_s` after launch of shots fired at `elevation_deg`
        (arrays broadcast against each other); times are clipped to the flight."""
        el, t = np.broadcast_arrays(np.asarray(elevation_deg, float), np.asarray(t_s, float))
        g = (el - self.elevation_deg[0]) / (self.elevation_deg[1] - self.elevation_deg[0])
        i = np.clip(np.floor(g).astype(np.int64), 0, self.elevation_deg.size - 2)
        wi = np.clip(g - i, 0.0, 1.0)
        tof = self.time_of_flight_s[i] * (1 - wi) + self.time_of_flight_s[i + 1] * wi
        tau = np.clip(t / tof, 0.0, 1.0) * (TABLE_SAMPLES - 1)
        j = np.minimum(np.floor(tau).astype(np.int64), TABLE_SAMPLES - 2)
        wj = tau - j

        def bilinear(a: NDArray[np.float64]) -> NDArray[np.float64]:
            return (a[i, j] * (1 - wj) + a[i, j + 1] * wj) * (1 - wi) + (
                a[i + 1, j] * (1 - wj) + a[i + 1, j + 1] * wj
            ) * wi

        return bilinear(self.x_m), bilinear(self.z_m)


@cache
def _table(projectile: Projectile, atmosphere: Atmosphere) -> BallisticTable:
    lo, hi = projectile.min_elevation_deg, projectile.max_elevation_deg
    count = int(np.ceil((hi - lo) / TABLE_STEP_DEG)) + 1
    el_deg = np.linspace(lo, hi, count)
    el = np.radians(el_deg)
    v0 = projectile.muzzle_velocity_mps
    k = projectile.drag_factor_m2pkg
    # Pass 1: coarse steps sized on the vacuum flight time, to find each landing time.
    t_vac = 2 * v0 * np.sin(el) / G0_MPS2
    steps1 = 256
    dt1 = t_vac / steps1
    _x1, z1, _, _ = _rk4_flights(k, atmosphere, v0, el, dt1, steps1, 1)
    below = z1[:, 1:] < 0
    first = np.argmax(below, axis=1) + 1  # drag always lands the shot before t_vac
    rows = np.arange(count)
    za, zb = z1[rows, first - 1], z1[rows, first]
    t_land = (first - 1 + za / (za - zb)) * dt1
    # Pass 2: exactly _STEPS steps to the landing time, keeping TABLE_SAMPLES states.
    dt2 = t_land / _STEPS
    x2, z2, vx2, vz2 = _rk4_flights(
        k, atmosphere, v0, el, dt2, _STEPS, _STEPS // (TABLE_SAMPLES - 1)
    )
    # One Newton step moves the end exactly to height 0.
    t_fix = -z2[:, -1] / vz2[:, -1]
    tof = t_land + t_fix
    rng = x2[:, -1] + vx2[:, -1] * t_fix
    z2[:, -1] = 0.0
    x2[:, -1] = rng
    return BallisticTable(projectile, el_deg, rng, tof, x2, z2, int(np.argmax(rng)))
