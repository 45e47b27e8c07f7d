"""Origin of an impulsive sound from arrival times (and back-azimuths) at known sensors.

Model, in a local tangent plane (metres) with the source at ground level (docs/methods.md):

    t_j = tau + f_j,   f_j = d_j / (c + w . u_j),   d_j = |s_j - x|,   u_j = (s_j - x) / d_j

with c the speed of sound and w = (w_e, w_n) the horizontal wind, and errors
e_j ~ N(0, sigma_j^2), sigma_j^2 = sigma_sensor_j^2 + (k d_j)^2 (k in s/km, d in km).
Back-azimuths, where measured, add az_j = atan2(x_e - s_je, x_n - s_jn) + N(0, sigma_az_j^2).

The weather reports give c and w only to within their measurement errors (and the air between the
station and the event differs again), so c, w_e and w_n are estimated with the origin, each with
a Gaussian prior centred on the report: sigma_c (from the temperature error) and sigma_w. The
unknowns are theta = (x_e, x_n, tau, w_e, w_n, c); the covariance of the origin is the (x, y, tau)
block of the inverse information, so it carries the weather's uncertainty and its correlations.

The solver is Gauss-Newton with iteratively reweighted least squares (Huber weights) from a
starting point given by the associator. The worst arrival beyond `outlier_sigma` is removed and
the solve repeated. The covariance is scaled by the Jordan-Sverdrup variance factor
s^2 = (nu0 + chi^2) / (nu0 + dof), so the 95% ellipse stays honest with few sensors and widens
when the misfit is larger than the noise model expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from truceline.config import LocateSettings

F64 = NDArray[np.float64]
N_PARAMS = 6  # x_e, x_n, tau, w_e, w_n, c


@dataclass(frozen=True, slots=True)
class SoundSpeed:
    """Speed of sound (m/s) and wind (east, north, m/s) for one event."""

    c_mps: float
    wind_e_mps: float = 0.0
    wind_n_mps: float = 0.0

    def travel_time_s(self, dx: ArrayLike, dy: ArrayLike) -> tuple[F64, F64]:
        """Travel time (s) over horizontal offsets (dx, dy) (m, source to sensor) with the wind's
        component along each path, d / (c + w . u), and the distances d (m, at least 1)."""
        dx, dy = np.asarray(dx, float), np.asarray(dy, float)
        d = np.maximum(np.hypot(dx, dy), 1.0)
        return d / (self.c_mps + (self.wind_e_mps * dx + self.wind_n_mps * dy) / d), d

    @staticmethod
    def from_temperature(
        temperature_c: float, wind_e_mps: float = 0.0, wind_n_mps: float = 0.0
    ) -> SoundSpeed:
        """c = 331.3 sqrt(1 + T / 273.15) m/s for air temperature T in degrees Celsius."""
        return SoundSpeed(
            331.3 * float(np.sqrt(1.0 + temperature_c / 273.15)), wind_e_mps, wind_n_mps
        )


def sound_speed_sigma_mps(temperature_c: float, temperature_sigma_c: float) -> float:
    """One-sigma error of c (m/s) from a temperature error: dc/dT = 331.3 / (2 sqrt(...) 273.15)."""
    return 331.3 / (2 * 273.15 * np.sqrt(1 + temperature_c / 273.15)) * temperature_sigma_c


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Observations of one event in a local plane; arrays of equal length n.

    `t_s` are arrival times in seconds relative to any epoch; `sigma_s` their one-sigma errors
    without the propagation term; `az_deg`/`az_sigma_deg` are NaN where no azimuth was measured.
    """

    x_m: F64
    y_m: F64
    t_s: F64
    sigma_s: F64
    az_deg: F64
    az_sigma_deg: F64

    @property
    def n(self) -> int:
        return int(self.x_m.size)

    def subset(self, keep: NDArray[np.bool_]) -> Arrivals:
        return Arrivals(
            self.x_m[keep],
            self.y_m[keep],
            self.t_s[keep],
            self.sigma_s[keep],
            self.az_deg[keep],
            self.az_sigma_deg[keep],
        )


@dataclass(frozen=True, slots=True)
class Solution:
    """A located origin. `cov` is the scaled 3x3 covariance of (x_m, y_m, tau_s), the weather's
    uncertainty included; `speed` the fitted sound speed and wind; `keep` marks the arrivals used
    (False: removed as outliers)."""

    x_m: float
    y_m: float
    tau_s: float
    cov: F64
    speed: SoundSpeed
    chi2: float
    dof: int
    scale2: float
    rms_s: float
    keep: NDArray[np.bool_]
    iterations: int
    converged: bool
    prior_dof: float

    @property
    def n_used(self) -> int:
        return int(self.keep.sum())

    def ellipse95(self) -> tuple[float, float, float]:
        """Semi-major, semi-minor (m) and major-axis azimuth (deg from north) at 95%."""
        return ellipse_axes(self.cov[:2, :2], ellipse_k2(0.95, self.dof, self.prior_dof))


@lru_cache(maxsize=4096)
def ellipse_k2(level: float, dof: int, prior_dof: float) -> float:
    """Squared radius of a 2-D confidence region at `level` for a covariance scaled by the
    Jordan-Sverdrup factor with `dof` residual and `prior_dof` prior degrees of freedom:
    2 F(level; 2, dof + prior_dof), tending to the chi-square quantile as dof grows. Cached:
    scipy's quantile costs ~80 us a call, and every event asks for one of a few values."""
    return 2.0 * float(stats.f.ppf(level, 2, max(dof, 0) + prior_dof))


def ellipse_axes(cov2: F64, k2: float) -> tuple[float, float, float]:
    """Semi-axes (m) and major-axis azimuth (deg clockwise from north, in [0, 180)) of the
    ellipse {e : e' cov2^-1 e <= k2} for a covariance of (east, north) in m^2."""
    vals, vecs = np.linalg.eigh(cov2)
    vals = np.clip(vals, 0.0, None)
    major_vec = vecs[:, 1]
    azimuth = float(np.degrees(np.arctan2(major_vec[0], major_vec[1]))) % 180.0
    return float(np.sqrt(k2 * vals[1])), float(np.sqrt(k2 * vals[0])), azimuth


def travel_time(theta: F64, sx: F64, sy: F64) -> tuple[F64, F64, F64]:
    """Travel time f_j (s) from the origin to each sensor, its gradient with respect to
    theta = (x, y, tau, w_e, w_n, c) as an (n, 6) array, and the distances d_j (m)."""
    x, y, _, we, wn, c = theta
    dx, dy = sx - x, sy - y
    d = np.maximum(np.hypot(dx, dy), 1e-3)
    a = we * dx + wn * dy  # w . (s - x)
    denom = c * d + a  # f = d^2 / (c d + a)
    f = d * d / denom
    den2 = denom * denom
    dd_dx, dd_dy = -dx / d, -dy / d
    grad = np.empty((d.size, N_PARAMS))
    grad[:, 0] = (2 * d * dd_dx * denom - d * d * (c * dd_dx - we)) / den2
    grad[:, 1] = (2 * d * dd_dy * denom - d * d * (c * dd_dy - wn)) / den2
    grad[:, 2] = 0.0
    grad[:, 3] = -d * d * dx / den2
    grad[:, 4] = -d * d * dy / den2
    grad[:, 5] = -d * d * d / den2
    return f, grad, d


@dataclass(frozen=True, slots=True)
class _Prior:
    speed: SoundSpeed
    sigma_c: float
    sigma_w: float


def _prior(speed: SoundSpeed, settings: LocateSettings) -> _Prior:
    return _prior_of(speed, settings.temperature_sigma_c, settings.wind_sigma_mps)


@lru_cache(maxsize=256)
def _prior_of(speed: SoundSpeed, temperature_sigma_c: float, wind_sigma_mps: float) -> _Prior:
    """The weather prior (cached: association locates many times with one report's speed)."""
    t_c = (speed.c_mps / 331.3) ** 2 * 273.15 - 273.15
    return _Prior(
        speed,
        max(sound_speed_sigma_mps(t_c, temperature_sigma_c), 1e-6),
        max(wind_sigma_mps, 1e-6),
    )


def prior_row(speed: SoundSpeed, settings: LocateSettings) -> F64:
    """The weather prior as the compiled kernels take it: (w_e, w_n, c, sigma_w, sigma_c)."""
    prior = _prior(speed, settings)
    p = prior.speed
    return np.array([p.wind_e_mps, p.wind_n_mps, p.c_mps, prior.sigma_w, prior.sigma_c])


def _residuals(
    theta: F64,
    arr: Arrivals,
    prior: _Prior,
    settings: LocateSettings,
    has_az: NDArray[np.bool_],
    times: tuple[F64, F64, F64] | None = None,
) -> tuple[F64, F64, F64]:
    """Normalised residuals r/sigma (times, azimuths, then the three weather priors), their
    Jacobian with respect to theta, and the arrivals' time sigmas. `times`: the time rows and
    sigmas when already computed (`kernel.time_rows`, the same numbers)."""
    x, y, tau = theta[0], theta[1], theta[2]
    if times is None:
        f, grad, d = travel_time(theta, arr.x_m, arr.y_m)
        sigma_t = np.sqrt(arr.sigma_s**2 + (settings.propagation_jitter_s_per_km * 1e-3 * d) ** 2)
        r_t = (arr.t_s - tau - f) / sigma_t
        jac_t = -grad / sigma_t[:, None]
        jac_t[:, 2] = -1.0 / sigma_t
    else:
        r_t, jac_t, sigma_t = times
    parts_r, parts_j = [r_t], [jac_t]
    if has_az.any():
        r_az, jac_az = _azimuth_rows(x, y, arr, has_az)
        parts_r.append(r_az)
        parts_j.append(jac_az)
    p = prior.speed
    r_p = np.array(
        [
            (theta[3] - p.wind_e_mps) / prior.sigma_w,
            (theta[4] - p.wind_n_mps) / prior.sigma_w,
            (theta[5] - p.c_mps) / prior.sigma_c,
        ]
    )
    jac_p = np.zeros((3, N_PARAMS))
    jac_p[0, 3] = 1.0 / prior.sigma_w
    jac_p[1, 4] = 1.0 / prior.sigma_w
    jac_p[2, 5] = 1.0 / prior.sigma_c
    parts_r.append(r_p)
    parts_j.append(jac_p)
    return np.concatenate(parts_r), np.concatenate(parts_j), sigma_t


def _azimuth_rows(x, y, arr: Arrivals, has_az: NDArray[np.bool_]) -> tuple[F64, F64]:
    """The azimuth rows of `_residuals` at origin (x, y), for the arrivals `has_az`."""
    sx, sy = arr.x_m[has_az], arr.y_m[has_az]
    ex, ny = x - sx, y - sy
    d2 = np.maximum(ex * ex + ny * ny, 1.0)
    predicted = np.arctan2(ex, ny)
    sig_az = np.radians(arr.az_sigma_deg[has_az])
    r_az = np.angle(np.exp(1j * (np.radians(arr.az_deg[has_az]) - predicted))) / sig_az
    jac_az = np.zeros((r_az.size, N_PARAMS))
    jac_az[:, 0] = -(ny / d2) / sig_az
    jac_az[:, 1] = (ex / d2) / sig_az
    return r_az, jac_az


def misfit(
    theta: F64, arr: Arrivals, speed: SoundSpeed, settings: LocateSettings
) -> tuple[F64, F64]:
    """The terms whose sum of squares the locator minimises, at `theta` = (x, y, tau, w_e,
    w_n, c): normalised residuals of the arrival times, of the azimuths where measured, and of
    the weather priors centred on `speed`; and their Jacobian with respect to theta."""
    has_az = np.isfinite(arr.az_deg) & np.isfinite(arr.az_sigma_deg)
    r, jac, _ = _residuals(np.asarray(theta, float), arr, _prior(speed, settings), settings, has_az)
    return r, jac


def locate(
    arr: Arrivals,
    speed: SoundSpeed,
    start: tuple[float, float, float],
    settings: LocateSettings | None = None,
) -> Solution | None:
    """Locate one origin; None when fewer than 4 arrivals remain or the solve is singular."""
    settings = settings or LocateSettings()
    prior = _prior(speed, settings)
    theta = np.array([*start, speed.wind_e_mps, speed.wind_n_mps, speed.c_mps], dtype=float)
    solve = _robust_compiled if settings.kernel == "compiled" else _robust_numpy
    found = solve(arr, prior, theta, settings)
    if found is None:
        return None
    theta, keep, total_iterations, converged, times = found
    return _solution(arr, prior, settings, theta, keep, total_iterations, converged, times)


def solution_at(
    arr: Arrivals,
    speed: SoundSpeed,
    settings: LocateSettings,
    theta: F64,
    keep: NDArray[np.bool_],
    iterations: int,
    converged: bool,
) -> Solution | None:
    """The `Solution` `locate(arr, speed, ...)` makes once its compiled solve has found theta,
    keep, iterations and convergence (for callers that run that solve inside their own compiled
    code, `associate.kernel.trial_solve`): the same numbers, or None where `locate` gives None
    after its solve."""
    from truceline.locate.kernel import time_rows

    x, y, t, sigma = (
        np.ascontiguousarray(a, dtype=np.float64) for a in (arr.x_m, arr.y_m, arr.t_s, arr.sigma_s)
    )
    jitter = settings.propagation_jitter_s_per_km * 1e-3
    times = time_rows(theta, x, y, t, sigma, keep, jitter)
    prior = _prior(speed, settings)
    return _solution(arr, prior, settings, theta, keep, int(iterations), bool(converged), times)


def _solution(
    arr: Arrivals,
    prior: _Prior,
    settings: LocateSettings,
    theta: F64,
    keep: NDArray[np.bool_],
    total_iterations: int,
    converged: bool,
    times: tuple[F64, F64, F64] | None,
) -> Solution | None:
    """`locate`'s solution from its solve's result: the covariance, misfit and records."""
    sub = arr if keep.all() else arr.subset(keep)
    if sub.n < 4:
        return None
    has_az = np.isfinite(sub.az_deg) & np.isfinite(sub.az_sigma_deg)
    r, jac, sigma_t = _residuals(theta, sub, prior, settings, has_az, times)
    try:
        cov_full = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return None
    dof = r.size - N_PARAMS  # the three prior rows pay for the three weather parameters
    chi2 = float(r @ r)
    scale2 = (settings.prior_dof + chi2) / (settings.prior_dof + max(dof, 0))
    # np.sqrt(np.mean(...)) without np.mean's wrapper: the same sum, divided by the count
    rms = math.sqrt(float(np.add.reduce((r[: sub.n] * sigma_t) ** 2)) / sub.n)
    return Solution(
        x_m=float(theta[0]),
        y_m=float(theta[1]),
        tau_s=float(theta[2]),
        cov=cov_full[:3, :3] * scale2,
        speed=SoundSpeed(float(theta[5]), float(theta[3]), float(theta[4])),
        chi2=chi2,
        dof=dof,
        scale2=scale2,
        rms_s=rms,
        keep=keep,
        iterations=total_iterations,
        converged=converged,
        prior_dof=settings.prior_dof,
    )


def locate_all_rows(
    arr: Arrivals, speed: SoundSpeed, start: tuple[float, float, float], settings: LocateSettings
) -> tuple[F64, F64, F64, F64, float, float] | None:
    """`locate` where it keeps every arrival, without making the `Solution`: theta (x, y, tau,
    w_e, w_n, c), the rows r and J its covariance is made from (as `misfit` gives them at
    theta), the unscaled inverse (J^T J)^-1, chi^2 and the variance factor; None where `locate`
    gives None or removes an arrival. The same numbers, in one compiled call
    (`kernel.locate_rows_kernel`) and the azimuth rows', inverse's and products' NumPy calls,
    for callers that locate many sets (the ambiguity mixture; the arrays contiguous)."""
    from truceline.locate.kernel import OK, locate_rows_kernel

    prior = _prior(speed, settings)
    p = prior.speed
    has_az = np.isfinite(arr.az_deg) & np.isfinite(arr.az_sigma_deg)
    n_az = int(np.count_nonzero(has_az))
    status, theta, r, jac = locate_rows_kernel(
        arr.x_m, arr.y_m, arr.t_s, arr.sigma_s, arr.az_deg, arr.az_sigma_deg,
        np.array([*start, speed.wind_e_mps, speed.wind_n_mps, speed.c_mps], dtype=float),
        np.array([p.wind_e_mps, p.wind_n_mps, p.c_mps, prior.sigma_w, prior.sigma_c]),
        settings.propagation_jitter_s_per_km * 1e-3, settings.huber_k, settings.max_iterations,
        settings.tolerance_m, settings.outlier_sigma, settings.max_outliers, n_az,
    )  # fmt: skip
    if status != OK:
        return None
    if n_az:
        n = arr.n
        r[n : n + n_az], jac[n : n + n_az] = _azimuth_rows(theta[0], theta[1], arr, has_az)
    try:
        cov_full = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return None
    dof = r.size - N_PARAMS
    chi2 = float(r @ r)
    scale2 = (settings.prior_dof + chi2) / (settings.prior_dof + max(dof, 0))
    return theta, r, jac, cov_full, chi2, scale2


def _robust_numpy(
    arr: Arrivals, prior: _Prior, theta: F64, settings: LocateSettings
) -> tuple[F64, NDArray[np.bool_], int, bool, None] | None:
    """Gauss-Newton, then remove the worst time residual beyond `outlier_sigma` and solve
    again, one per round; (theta, keep, iterations, converged, None) or None."""
    keep = np.ones(arr.n, dtype=bool)
    total_iterations = 0
    converged = False
    for _ in range(settings.max_outliers + 1):
        sub = arr.subset(keep)
        if sub.n < 4:
            return None
        result, iterations, converged = _gauss_newton(sub, prior, theta, settings)
        total_iterations += iterations
        if result is None:
            return None
        theta = result
        has_az = np.isfinite(sub.az_deg) & np.isfinite(sub.az_sigma_deg)
        r, _, _ = _residuals(theta, sub, prior, settings, has_az)
        r_t = np.abs(r[: sub.n])
        worst = int(np.argmax(r_t))
        if r_t[worst] <= settings.outlier_sigma:
            break
        keep[np.flatnonzero(keep)[worst]] = False
    return theta, keep, total_iterations, converged, None


def _robust_compiled(
    arr: Arrivals, prior: _Prior, theta: F64, settings: LocateSettings
) -> tuple[F64, NDArray[np.bool_], int, bool, tuple[F64, F64, F64]] | None:
    """The same as `_robust_numpy`, compiled (`truceline.locate.kernel`); with the time rows
    at the solution (`kernel.time_rows`) for the covariance."""
    from truceline.locate.kernel import OK, locate_kernel, time_rows

    def f64(a: ArrayLike) -> F64:
        return np.ascontiguousarray(a, dtype=np.float64)

    p = prior.speed
    x, y, t, sigma = f64(arr.x_m), f64(arr.y_m), f64(arr.t_s), f64(arr.sigma_s)
    status, theta, keep, iterations, converged = locate_kernel(
        x,
        y,
        t,
        sigma,
        f64(arr.az_deg),
        f64(arr.az_sigma_deg),
        theta,
        f64([p.wind_e_mps, p.wind_n_mps, p.c_mps, prior.sigma_w, prior.sigma_c]),
        settings.propagation_jitter_s_per_km * 1e-3,
        settings.huber_k,
        settings.max_iterations,
        settings.tolerance_m,
        settings.outlier_sigma,
        settings.max_outliers,
    )
    if status != OK:
        return None
    jitter = settings.propagation_jitter_s_per_km * 1e-3
    times = time_rows(theta, x, y, t, sigma, keep, jitter)
    return theta, keep, int(iterations), bool(converged), times


def _gauss_newton(
    arr: Arrivals, prior: _Prior, theta: F64, settings: LocateSettings
) -> tuple[F64 | None, int, bool]:
    has_az = np.isfinite(arr.az_deg) & np.isfinite(arr.az_sigma_deg)
    for iteration in range(1, settings.max_iterations + 1):
        r, jac, _ = _residuals(theta, arr, prior, settings, has_az)
        a = np.abs(r)
        w = np.where(a <= settings.huber_k, 1.0, settings.huber_k / np.maximum(a, 1e-12))
        jw = jac * w[:, None]
        try:
            step = np.linalg.solve(jw.T @ jac, -(jw.T @ r))
        except np.linalg.LinAlgError:
            return None, iteration, False
        # Damp very long steps (far starting points): at most 2 km per iteration.
        length = np.hypot(step[0], step[1])
        if length > 2000.0:
            step *= 2000.0 / length
        theta = theta + step
        if np.hypot(step[0], step[1]) < settings.tolerance_m:
            return theta, iteration, True
    return theta, settings.max_iterations, False


def crb_covariance(
    x: float, y: float, arr: Arrivals, speed: SoundSpeed, settings: LocateSettings | None = None
) -> F64:
    """The Cramér-Rao bound: the (x, y, tau) block of the inverse Fisher information at the true
    origin, for the sensors and noise of `arr` (its times are not used) and the weather's
    uncertainty as the locator models it."""
    settings = settings or LocateSettings()
    prior = _prior(speed, settings)
    has_az = np.isfinite(arr.az_deg) & np.isfinite(arr.az_sigma_deg)
    theta = np.array([x, y, 0.0, speed.wind_e_mps, speed.wind_n_mps, speed.c_mps])
    _, jac, _ = _residuals(theta, arr, prior, settings, has_az)
    return np.linalg.inv(jac.T @ jac)[:3, :3]
