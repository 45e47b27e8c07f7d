"""Configuration: every setting declared once, with type, default, unit and description.

The declarations below drive validation, `truceline config show` and docs/configuration.md.
Values are layered, later layers winning:

1. defaults (declared here);
2. the site file: `--config FILE`, else `$TRUCELINE_CONFIG`, else `./truceline.toml`, else
   `/etc/truceline/truceline.toml` (TOML, one table per section, e.g. `[store]`);
3. the environment: `TRUCELINE_<SECTION>_<NAME>` (e.g. `TRUCELINE_LOG_LEVEL`), plus the aliases a
   setting declares (`TRUCELINE_DB` for `store.url`);
4. flags: `--set section.name=value` and the dedicated flags (`--db`, `--log-level`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from truceline.errors import ConfigError

ENV_PREFIX = "TRUCELINE_"
SITE_FILES = (Path("truceline.toml"), Path("/etc/truceline/truceline.toml"))


def setting(
    default: Any,
    description: str,
    *,
    unit: str | None = None,
    env: tuple[str, ...] = (),
    **constraints: Any,
) -> Any:
    """Declare one setting: its default, a one-line description, its unit and extra env names."""
    return Field(
        default,
        description=description,
        json_schema_extra={"unit": unit, "env": list(env)},
        **constraints,
    )


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class StoreSettings(Section):
    url: str = setting(
        "sqlite:///truceline.db",
        "Database URL (SQLAlchemy form) or a plain path to a SQLite file. "
        "PostgreSQL: postgresql+psycopg://user@host/db.",
        env=("TRUCELINE_DB",),
    )
    batch_size: int = setting(
        5000, "Rows written per transaction when storing in bulk.", unit="rows", ge=1
    )


class PipelineSettings(Section):
    """How `truceline process` runs its stages."""

    workers: int = setting(
        2,
        "Processes `truceline process` uses for its stages. 1: every stage in one process. 2: "
        "the acoustic stage (association and location) and the radar stage (backtracking, air "
        "tracking) each in a worker process beside ingest, for about twice the speed on two "
        "cores; the events are the same.",
        unit="processes",
        ge=1,
        le=2,
    )
    radar_worker: bool = setting(
        True,
        "With `workers` 2, the radar stage in a worker process of its own (backtracking its "
        "counter-battery tracks during ingest); off: in the main process after ingest, as "
        "with `workers` 1. Either way the events are the same.",
    )
    worker_backlog: int = setting(
        4_000_000,
        "Observations the main process may send ahead of each stage's worker (kept pickled, "
        "about 300 bytes each) before it waits for it. A deep backlog lets ingest finish while "
        "the workers catch up; a shallow one bounds memory.",
        unit="observations",
        ge=1,
    )


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "WARNING", "Least severe log level written to standard error."
    )
    json_lines: bool = setting(
        False, "Write log records as JSON lines (for log collectors) instead of plain text."
    )


class GazetteerSettings(Section):
    min_population: int = setting(
        500,
        "Smallest settlement used as a reference point in place descriptions.",
        unit="people",
        ge=0,
    )
    max_distance_km: float = setting(
        30.0,
        "Farthest reference settlement a place description may use; beyond it the "
        "description gives coordinates only.",
        unit="km",
        gt=0,
    )


class GeoSettings(Section):
    sector_length_km: float = setting(
        100.0,
        "Length of line sectors, each with its own local projection for computing.",
        unit="km",
        gt=0,
    )


class IngestSettings(Section):
    window_hours: float = setting(
        48.0,
        "Half-width of a run's time window when it is inferred from the data (the median "
        "time of the most recent observations, plus or minus this); observations timed outside "
        "it are quarantined as out-of-window.",
        unit="h",
        gt=0,
    )
    future_tolerance_s: float | None = setting(
        None,
        "If set, observations timed later than their receipt plus this are quarantined "
        "as out-of-window (for live feeds; leave unset to replay archives or simulations).",
        unit="s",
        ge=0,
    )
    unsigned_policy: Literal["quarantine", "accept-flagged", "accept"] = setting(
        "quarantine",
        "What to do with an unsigned observation from a sensor that has a public_key: "
        "quarantine it (reason code unsigned), accept it and count it in the run's summary "
        "(its ledger entry says auth unsigned), or accept it silently.",
    )


class AssociateSettings(Section):
    """Association of acoustic detections into events (docs/methods.md, Association)."""

    min_sensors: int = setting(
        5, "Fewest distinct sensors an acoustic event may rest on.", unit="sensors", ge=4
    )
    link_neighbours: int = setting(
        8,
        "Nearest sensors each sensor is linked to, besides its Delaunay neighbours.",
        unit="sensors",
        ge=1,
    )
    link_min_distance_km: float = setting(
        3.0, "Sensors closer than this are always linked.", unit="km", ge=0
    )
    link_max_distance_km: float = setting(
        12.0, "Sensors farther apart than this are never linked.", unit="km", gt=0
    )
    link_tolerance_s: float = setting(
        0.3,
        "Slack added to the largest time difference sound allows between two linked sensors.",
        unit="s",
        ge=0,
    )
    min_speed_mps: float = setting(
        290.0,
        "Slowest effective speed of sound assumed when bounding time differences "
        "(cold air against the wind).",
        unit="m/s",
        gt=0,
    )
    max_source_distance_km: float = setting(
        30.0,
        "Farthest a sound source is assumed to be from a sensor that heard it.",
        unit="km",
        gt=0,
    )
    ransac_hypotheses: int = setting(
        40,
        "Four-detection subsets tried per search for an event in a linked group.",
        unit="subsets",
        ge=1,
    )
    inlier_tolerance_s: float = setting(
        1.0,
        "Largest misfit of a detection to a trial origin for it to count in the consensus.",
        unit="s",
        gt=0,
    )
    stack_density: float = setting(
        1.5,
        "Detections per sensor in a linked group from which trial origins are also found by "
        "stacking on a grid (salvos), besides RANSAC.",
        unit="detections/sensor",
        gt=0,
    )
    salvo_false_rounds: float = setting(
        1.0,
        "In a dense group, a window of origin times at a salvo's place counts as a round when "
        "chance would fill one as full no more often than this, over the group's span.",
        unit="windows",
        gt=0,
    )
    uncross: bool = setting(
        True,
        "Two events of one group found close in place and time that hold detections at the "
        "same sensors are tried as rounds fired one after the other: at each sensor heard by "
        "both the earlier detection to the earlier round; kept when the two solve better "
        '(docs/methods.md, Association, "Rounds located crosswise").',
    )
    uncross_distance_m: float = setting(
        500.0,
        "Farthest apart two events' origins may be to be tried as crossed rounds (`uncross`).",
        unit="m",
        gt=0,
    )
    uncross_window_s: float = setting(
        2.0,
        "Farthest apart two events' origin times may be to be tried as crossed rounds (`uncross`).",
        unit="s",
        gt=0,
    )
    settle_s: float = setting(
        2.0,
        "A dense group is searched once its newest detection is this far behind the newest "
        "arrival, so that a salvo is seen whole.",
        unit="s",
        ge=0,
    )
    settle_max_s: float = setting(
        40.0,
        "Longest a dense group waits to settle, from its oldest detection to the newest "
        "arrival, before it is searched anyway (busy sectors keep growing groups).",
        unit="s",
        gt=0,
    )
    search_retries: int = setting(
        0,
        "Fresh random draws after a search of a group finds no further event, before its "
        "remaining detections are left for the next search.",
        unit="searches",
        ge=0,
    )
    provisional_interval_s: float = setting(
        0.0,
        "While a dense group waits to settle, it is searched again for provisional events "
        "(published at once, revised or withdrawn when the group settles) when it has grown "
        "and at least this long after its last such search (0: on every batch it grew); live "
        "streams only.",
        unit="s",
        ge=0,
    )
    provisional_retry_s: float = setting(
        3.0,
        "After a search for good leaves detections at enough sensors in a group unexplained, "
        "the group is searched again for provisional events on the following batches (at most "
        "every `provisional_interval_s`) for this long, without waiting for a new detection to "
        "touch it; live streams only, 0: off.",
        unit="s",
        ge=0,
    )
    provisional_retry_at_once: bool = setting(
        True,
        "What a search for good leaves of a group (detections at enough sensors) is also "
        "searched for provisional events at once, in the same batch, before the retries of "
        "`provisional_retry_s`; live streams only.",
    )
    provisional_seeds: int = setting(
        30,
        "A provisional search of a dense group finally looks for rounds through each of this "
        "many of its newest unexplained detections, at the places of the group's events, "
        "gathering held detections too (a round part of which a mixture holds); 0: off.",
        ge=0,
    )
    provisional_chance_all: bool = setting(
        False,
        "In provisional searches the chance test counts each sensor's rate from every recent "
        "detection near the predicted arrival, whatever became of it, not only from the "
        "searched detections (a leftover of a salvo is no quieter than the salvo): fewer "
        "provisional events later withdrawn, more events late (docs/performance.md, session "
        "11); live streams only.",
    )
    solve_candidates: int = setting(
        3,
        "Distinct trial origins solved per search; the one explaining the most sensors wins.",
        unit="origins",
        ge=1,
    )
    tight_tolerance_s: float = setting(
        0.15,
        "Misfit within which a detection counts in the tight consensus that ranks trial "
        "origins first (separates the rounds of a salvo).",
        unit="s",
        gt=0,
    )
    attach_sigma: float = setting(
        4.0,
        "A detection joins an event when its misfit is within this many standard deviations.",
        unit="sigma",
        gt=0,
    )
    max_reduced_chi2: float = setting(
        3.0, "Largest chi-square per degree of freedom of an accepted origin.", gt=0
    )
    chance_alpha: float = setting(
        1e-3,
        "An origin is rejected when its sensors could have agreed by chance with at least this "
        "probability, given how many detections the group's sensors have near its predicted "
        "arrivals (salvos).",
        unit="probability",
        gt=0,
        le=1,
    )
    chance_window_s: float = setting(
        3.0,
        "Half-width of the span around each predicted arrival over which a sensor's rate of "
        "other detections is counted, for the chance test.",
        unit="s",
        gt=0,
    )
    silent_radius_fraction: float = setting(
        0.7,
        "Sensors nearer an origin than this fraction of the median distance of the sensors "
        "that heard it are expected to have heard it too.",
        unit="fraction",
        gt=0,
    )
    silent_sigma: float = setting(
        5.0,
        "A sensor counts as having heard an origin when it has a detection within this many "
        "standard deviations of the predicted arrival.",
        unit="sigma",
        gt=0,
    )
    max_silent_sensors: int = setting(
        2,
        "An origin is rejected when more expected sensors than this heard nothing near the "
        "predicted time.",
        unit="sensors",
        ge=0,
    )
    ambiguity: bool = setting(
        True,
        "Report each event's covariance as a mixture over association hypotheses: at each of "
        "its sensors, another detection inside the gather gate taken instead, or none "
        "(docs/methods.md, Association, step 7). The origin and its detections are unchanged.",
    )
    ambiguity_max_hypotheses: int = setting(
        24,
        "Most alternative association hypotheses relocated per event, likeliest first.",
        unit="hypotheses",
        ge=0,
    )
    ambiguity_min_weight: float = setting(
        0.01,
        "Alternative hypotheses less likely than this, relative to the detections taken, are "
        "left out of the mixture.",
        unit="odds",
        gt=0,
    )
    ambiguity_linear_tolerance: float = setting(
        0.1,
        "Each hypothesis is solved by a linear update from the event's solution; where the "
        "model's chi-square at the updated origin differs from the linear prediction by more "
        "than this, it is relocated instead (0: relocate every hypothesis).",
        unit="chi-square",
        ge=0,
    )
    relocate_growth: float = setting(
        0.3,
        "An open event is relocated when its detections have grown by this fraction.",
        unit="fraction",
        ge=0,
    )
    pool_retention_s: float = setting(
        300.0,
        "How long an unassociated detection waits for others to form an event.",
        unit="s",
        gt=0,
    )
    close_after_s: float = setting(
        150.0,
        "An event is closed (final until a late detection revises it) when the newest "
        "arrival is this much later than its origin.",
        unit="s",
        gt=0,
    )
    batch_s: float = setting(
        5.0, "Span of arrival times processed together when reading a file.", unit="s", gt=0
    )
    seed: int = setting(0, "Seed of the random subset choice, for reproducible runs.")


class LocateSettings(Section):
    """The acoustic locator (docs/methods.md, Localisation)."""

    kernel: Literal["compiled", "numpy"] = setting(
        "compiled",
        "Inner loop of the locator: `compiled` (Numba) or `numpy` (the reference; the same "
        "arithmetic, ~30x slower).",
    )
    propagation_jitter_s_per_km: float = setting(
        0.005,
        "Growth with distance of the one-sigma arrival-time error from unmodelled propagation.",
        unit="s/km",
        ge=0,
    )
    huber_k: float = setting(
        2.0, "Residuals beyond this many sigma are down-weighted (Huber).", unit="sigma", gt=0
    )
    outlier_sigma: float = setting(
        4.0,
        "Arrivals with a residual beyond this many sigma are removed, worst first.",
        unit="sigma",
        gt=0,
    )
    max_outliers: int = setting(8, "Most arrivals removed as outliers from one origin.", ge=0)
    prior_dof: float = setting(
        8.0,
        "Prior degrees of freedom of the variance factor (Jordan-Sverdrup): how much the "
        "noise model is trusted against the observed misfit.",
        ge=0,
    )
    max_iterations: int = setting(30, "Most Gauss-Newton iterations.", ge=1)
    tolerance_m: float = setting(
        0.01, "Convergence: the last step moved less than this.", unit="m", gt=0
    )
    temperature_sigma_c: float = setting(
        0.5,
        "One-sigma error of the air temperature taken from a weather report for an event "
        "(measurement and change since); sets the prior on the speed of sound.",
        unit="°C",
        gt=0,
    )
    wind_sigma_mps: float = setting(
        0.5,
        "One-sigma error of each wind component taken from a weather report for an event.",
        unit="m/s",
        gt=0,
    )
    default_temperature_c: float = setting(
        20.0,
        "Air temperature assumed when no weather observation is near in space and time.",
        unit="°C",
    )
    weather_max_age_h: float = setting(
        6.0, "Oldest weather report used for an event.", unit="h", gt=0
    )


class ShotsSettings(Section):
    """Launch or impact, and launch-impact pairing (docs/methods.md, Shots)."""

    label_error_fraction: float = setting(
        0.1,
        "Share of detections whose sensor labels a launch as impact or the reverse.",
        unit="fraction",
        gt=0,
        lt=0.5,
    )
    label_unknown_fraction: float = setting(
        0.1, "Share of detections labelled unknown.", unit="fraction", ge=0, lt=0.5
    )
    tof_relative_sigma: float = setting(
        0.03, "One-sigma error of a predicted time of flight, relative part.", unit="fraction", ge=0
    )
    tof_sigma_s: float = setting(
        0.5, "One-sigma error of a predicted time of flight, constant part.", unit="s", gt=0
    )
    max_z: float = setting(
        3.5,
        "Largest misfit of launch-to-impact time to time of flight for a pair.",
        unit="sigma",
        gt=0,
    )
    min_label_probability: float = setting(
        0.05,
        "A pair is considered only if the sensors' labels give its roles (the earlier "
        "event launched, the later is an impact) at least this probability.",
        unit="probability",
        gt=0,
        lt=1,
    )


class LedgerSettings(Section):
    """The evidence ledger (docs/ledger.md)."""

    enabled: bool = setting(
        True,
        "Append every record the store writes (observations accepted and quarantined, events, "
        "violations, reviews, ...) to the tamper-evident Merkle ledger.",
    )
    key_path: str | None = setting(
        None,
        "The monitor's Ed25519 private key file (from `truceline keys init`); `process` signs "
        "a tree head with it at the end of each run. Unset: heads are not signed.",
        env=("TRUCELINE_KEY",),
    )


class AttributeSettings(Section):
    """Attribution and the rules engine (docs/methods.md, Attribution)."""

    yardstick: Literal["icd203", "phia"] = setting(
        "icd203",
        "Words for probabilities: U.S. ICD 203 (default) or the UK PHIA yardstick.",
    )
    samples: int = setting(
        1024,
        "Draws from each origin's Gaussian used to integrate it over control areas and zones.",
        unit="draws",
        ge=64,
    )
    covariance_scale: float = setting(
        1.0,
        "Factor applied to each origin's position covariance before integrating it "
        "(above 1 when the locator's ellipses are known to be too small).",
        gt=0,
    )
    default_sigma_m: float = setting(
        200.0,
        "One-sigma position error assumed for an event that carries no covariance (each axis).",
        unit="m",
        gt=0,
    )
    own_side_impact_share: float = setting(
        0.05,
        "Share of a party's rounds assumed to land on its own side of the line (short rounds, "
        "dispersion); the likelihood that an impact came from the party whose area it is in.",
        unit="fraction",
        gt=0,
        lt=0.5,
    )
    one_party_trust: float = setting(
        0.9,
        "Weight given to evidence that rests only on one party's sensors when it points at "
        "another party; the withheld rest is undetermined.",
        unit="fraction",
        ge=0,
        le=1,
    )
    level_sigma_db: float = setting(
        3.0,
        "One-sigma fluctuation of a detection's signal-to-noise ratio about the level its "
        "weapon class, distance and sensor noise predict (the loudness evidence of the class).",
        unit="dB",
        gt=0,
    )
    level_absorption_db_per_km: float = setting(
        1.5,
        "Excess attenuation of sound beyond spherical spreading, for the loudness evidence.",
        unit="dB/km",
        ge=0,
    )
    radar_misclass: float = setting(
        0.01,
        "Likelihood, relative to the best fit, given to a weapon class outside the kind a "
        "counter-battery radar reported (shell, rocket, mortar).",
        unit="fraction",
        gt=0,
        le=1,
    )
    pair_error_share: float = setting(
        0.05,
        "Prior probability that a launch-impact pairing (`truceline.shots`) is wrong: the impact "
        "another round's. The weapon class takes the pair's range and time of flight as a mixture "
        "of the paired shot's likelihood and a coincidence's (uniform over the pairing's search "
        "window), so one wrong pairing cannot rule out every class that does not reach it.",
        unit="fraction",
        ge=0,
        lt=1,
    )
    class_floor: float = setting(
        0.01,
        "Share of the prior mixed into every weapon-class posterior, so that no class is ever "
        "ruled out by a model that is only approximately right.",
        unit="fraction",
        ge=0,
        lt=1,
    )
    cadence: bool = setting(
        True,
        "Use the rate of fire as evidence of a launch's weapon class: the time to the nearest "
        "launch from the same place before and after it, against each class's interval between "
        "rounds (weapons.yaml `rate_of_fire`).",
    )
    cadence_window_s: float = setting(
        60.0,
        "Launches from the same place farther apart in time than this are not neighbours (the "
        "interval's density is taken over (0, window]).",
        unit="s",
        gt=0,
    )
    cadence_spread_m: float = setting(
        75.0,
        "One-sigma horizontal offset, each axis, between two rounds from one firing position "
        "(a battery's guns or launchers some 50-100 m apart), added to the two origins' "
        "covariances when deciding whether two launches came from the same place.",
        unit="m",
        ge=0,
    )
    cadence_k_sigma: float = setting(
        3.0,
        "Two launches come from the same place when their Mahalanobis distance (combined "
        "covariance plus the spread) is at most this.",
        unit="sigma",
        gt=0,
    )
    cadence_jitter: float = setting(
        0.25,
        "One-sigma variation of one interval between rounds about the launcher's pace, as a "
        "fraction of the class's shortest interval (crew pace, firing programme).",
        unit="fraction",
        ge=0,
    )
    cadence_round_detection: float = setting(
        0.8,
        "Probability that a round is located as a launch event of its own: the observed "
        "interval spans m rounds' intervals with probability p (1 - p)^(m - 1) (0.8: 122 mm "
        "ripples on a simulated training day; other classes' rounds are nearly all located).",
        unit="probability",
        gt=0,
        le=1,
    )
    cadence_outlier_share: float = setting(
        0.1,
        "Share of neighbours that are not the same launcher's next or previous round (another "
        "battery at the same place, another fire mission, a false event); their interval is "
        "uniform over the window, a floor that keeps one odd interval from ruling out a class.",
        unit="fraction",
        gt=0,
        lt=1,
    )
    cadence_duplicate_share: float = setting(
        0.05,
        "Share of neighbours that are the same round located twice (a split event, a radar and "
        "an acoustic event not merged): their interval is zero but for the two origin times' "
        "spread, whatever the class.",
        unit="fraction",
        ge=0,
        lt=1,
    )
    near_line_km: float = setting(
        2.0,
        "Events whose origin lies within this distance of the line are calibrated with the "
        "near-line map (the bundled map has one per condition: near or far, one party's "
        "sensors or mixed).",
        unit="km",
        ge=0,
    )
    calibration: str = setting(
        "bundled",
        "Calibration map of the top party's probability: `bundled` (fitted on simulated "
        "training seeds, docs/performance.md), `none`, or a path to a JSON map.",
    )
    violation_threshold: float = setting(
        0.5,
        "A violation is recorded when the probability that the rule was breached (whoever "
        "breached it) is at least this.",
        unit="probability",
        gt=0,
        le=1,
    )
    party_threshold: float = setting(
        0.5,
        "A violation names a party when that party's attribution exceeds this; otherwise "
        "the violation's party is undetermined.",
        unit="probability",
        gt=0,
        le=1,
    )
    track_sigma_m: float = setting(
        100.0,
        "One-sigma position error of an air track's points, for the probability that a "
        "track crossed the line.",
        unit="m",
        gt=0,
    )

    @model_validator(mode="after")
    def _cadence_shares(self) -> AttributeSettings:
        if self.cadence_outlier_share + self.cadence_duplicate_share >= 1:
            raise ValueError(
                "attribute.cadence_outlier_share + attribute.cadence_duplicate_share must be < 1"
            )
        return self


class RadarSettings(Section):
    """Radar: projectile backtracking, air tracking, crossings (docs/methods.md, Radar)."""

    backtrack: Literal["ballistic-ut"] = setting(
        "ballistic-ut",
        "Projectile backtracker: `ballistic-ut` fits a point-mass ballistic state to the track "
        "and carries its covariance to launch and impact by the unscented transform.",
    )
    step_s: float = setting(
        0.05, "Integration step of the ballistic model (fixed-step RK4).", unit="s", gt=0
    )
    kernel: Literal["compiled", "numpy"] = setting(
        "compiled",
        "Ballistic integration of the backtracker: `compiled` (Numba, one track at a time, "
        "each with its own step, stopping at the ground) or `numpy` (the reference; the same "
        "arithmetic, ~4x slower).",
    )
    backtrack_chunk: int = setting(
        500,
        "Counter-battery tracks the radar stage backtracks together as they arrive (during "
        "ingest, in its worker with `pipeline.workers` 2); the results are the same bit for bit "
        "as one batch of all tracks (`truceline.radar.projectile.backtrack_chunk`). Smaller "
        "chunks cost more per track (about 1.5x at 1, the same from about 64 up).",
        unit="tracks",
        ge=1,
    )
    muzzle_speed_sigma: float = setting(
        0.002,
        "One-sigma spread of a projectile's launch speed around its class's muzzle speed, as a "
        "fraction of it (the weapon library's prior that picks the weapon class and steadies the "
        "backtrack; 0.2%: the round-to-round spread of one charge of one lot, about 1.6 m/s for "
        "a 152 mm gun; the simulator fires every class at exactly its muzzle speed).",
        unit="fraction",
        gt=0,
    )
    fence_revisit_s: float = setting(
        0.25,
        "Time between a counter-battery radar's looks at its coverage: a projectile first seen "
        "at t1 entered the coverage (rose above the search fence, came within range or into the "
        "sector) within this long before, which enters the backtrack as one more residual "
        '(docs/methods.md, Radar, "The search fence"). A radar\'s own `fence_revisit_s` '
        "property overrides it; 0 leaves the fence out.",
        unit="s",
        ge=0,
    )
    fence_elevation_deg: float = setting(
        1.0,
        "Elevation of a counter-battery radar's search fence, for a radar whose sensor "
        "declares none (`fence_elevation_deg`).",
        unit="deg",
    )
    battery_spread_m: float = setting(
        50.0,
        "One-sigma spread, per axis, of the guns or launchers of one battery around the "
        "battery's position: each round's launch point is refined with the other rounds of its "
        'battery, whose guns stand this far from its own (docs/methods.md, Radar, "Rounds of '
        'one battery"; guns of a battery 50-100 m apart: at 50 m per axis two guns are 89 m '
        "apart on average; the simulator's `battery_spread_m`).",
        unit="m",
        gt=0,
    )
    battery_window_s: float = setting(
        120.0,
        "Radar launches of one weapon class within this long of each other may be rounds of "
        "one battery from one firing position (shoot-and-scoot: a gun or launcher leaves its "
        "position within minutes of firing). 0 turns the refinement by a battery's other "
        "rounds off.",
        unit="s",
        ge=0,
    )
    battery_gate_sigma: float = setting(
        3.0,
        "Two radar launches are taken as rounds of one battery when their launch points differ "
        "by less than this many sigma of the sum of their covariances and twice the battery "
        "spread (`battery_spread_m`; 2-D, 3 sigma leaves 1.1% of one battery's pairs apart).",
        unit="sigma",
        gt=0,
    )
    max_impact_ellipse_m: float = setting(
        1000.0,
        "A track's predicted impact becomes an event only if the major semi-axis of its 95% "
        "ellipse is at most this (short early tracks of long shots predict too loosely).",
        unit="m",
        gt=0,
    )
    standalone_shots: bool = setting(
        True,
        "Also publish radar launches and impacts that join no acoustic event (one event per "
        "shot: the tracks of several radars are joined first, with `merge_sigma` and "
        "`merge_window_s` over position and time).",
    )
    merge_sigma: float = setting(
        4.5,
        "A radar launch or impact and an acoustic event (or two radars' events) are the same "
        "shot when their origins differ by less than this many sigma of the combined (east, "
        "north, time) covariance and their times by less than `merge_window_s` (3.5 sigma "
        "in three dimensions leaves 0.7% of true pairs apart).",
        unit="sigma",
        gt=0,
    )
    merge_window_s: float = setting(
        3.0,
        "Origin-time difference of a radar and an acoustic event (or two radars' events) "
        "searched for the same shot; further where the gate of `merge_sigma` reaches further "
        "with the two events' time uncertainty.",
        unit="s",
        gt=0,
    )
    live_retain_s: float = setting(
        900.0,
        "How long a live monitor keeps a published event to join later parts of its shot to "
        "it (the other network's event, another radar's track; `truceline.radar.live`), "
        "counted in origin time behind the newest event.",
        unit="s",
        gt=0,
    )
    joint_search_m: float = setting(
        2000.0,
        "A radar launch or impact and an acoustic event left apart by the fusion gate, this "
        "close, are tested again on the joint fit of the acoustic arrivals with the radar's "
        "origin (Δχ² < `merge_sigma`²; a search bound, not a gate). 0 turns the test off.",
        unit="m",
        ge=0,
    )
    explain_sigma: float = setting(
        3.0,
        "A detection of an acoustic launch or impact is explained by another radar-located "
        "event (a radar shot, or an event fused with one) when its arrival is within this "
        "many standard deviations of that event's predicted arrival (origin "
        "time + distance / sound speed; the origin's covariance, the detection's timing and "
        "propagation errors). 0 turns explaining away off (docs/methods.md, Radar, "
        '"Explaining away").',
        unit="sigma",
        ge=0,
    )
    explain_share: float = setting(
        0.8,
        "An acoustic launch or impact is a mixture of rounds the radar accounts for, and is "
        "dissolved, when at least this share of its detections are explained (`explain_sigma`) "
        "and that takes two or more radar-located events; the acoustic part of an event fused "
        "with a radar shot likewise (its shot explaining no more than half), the event going "
        "back to its shot alone.",
        unit="fraction",
        gt=0,
        le=1,
    )
    explain_second_events: bool = setting(
        True,
        "After explaining away, an acoustic launch or impact not fused with a radar shot is a "
        "second event of a shot another acoustic event located, and is dissolved, when at least "
        "`explain_share` of its detections are arrivals (`explain_sigma`) of better supported "
        "acoustically located events (more evidence), one of them more than half, not counting "
        "a detection at a sensor where the explaining event holds a fitting detection of its "
        "own (docs/methods.md, "
        'Radar, "Second events of one shot").',
    )
    merge_leftovers: bool = setting(
        True,
        "After explaining away, merge once more the radar shots standing alone with the "
        "acoustic launches and impacts fused with none (same gates): a shot first fused with a "
        "mixture of rounds that was then dissolved finds its round's own acoustic event "
        '(docs/methods.md, Radar, "Merging again").',
    )
    tracker: Literal["gnn-cv"] = setting(
        "gnn-cv",
        "Air tracker: `gnn-cv` is a nearly-constant-velocity Kalman filter with Mahalanobis "
        "gating and global nearest-neighbour assignment, M-of-N initiation and coasting.",
    )
    accel_sigma_mps2: float = setting(
        3.0,
        "Process noise of the air tracker: one-sigma white-noise acceleration per horizontal axis.",
        unit="m/s²",
        gt=0,
    )
    vertical_accel_sigma_mps2: float = setting(
        1.5, "Process noise: one-sigma white-noise vertical acceleration.", unit="m/s²", gt=0
    )
    velocity_sigma_mps: float = setting(
        5.0, "One-sigma error of a plot's reported velocity, per axis.", unit="m/s", gt=0
    )
    initial_speed_sigma_mps: float = setting(
        60.0,
        "One-sigma velocity uncertainty of a new track whose first plot carries no velocity.",
        unit="m/s",
        gt=0,
    )
    gate_probability: float = setting(
        0.999,
        "Gate: a plot may update a track when its Mahalanobis distance is inside this "
        "probability of the chi-square (3 dof) of the innovation.",
        unit="probability",
        gt=0,
        lt=1,
    )
    batch_s: float = setting(
        1.0, "Plots of one radar are associated in batches of this much time.", unit="s", gt=0
    )
    confirm_hits: int = setting(
        4, "A tentative track is confirmed after this many plots ...", unit="plots", ge=2
    )
    tentative_coast_s: float = setting(
        12.0,
        "... and dropped if it goes this long without a plot before that.",
        unit="s",
        gt=0,
    )
    coast_s: float = setting(
        25.0, "A confirmed track is ended after this long without a plot.", unit="s", gt=0
    )
    min_track_plots: int = setting(
        5, "Fewest plots a confirmed track needs to become an `air-track` event.", ge=2
    )
    stitch_gap_s: float = setting(
        60.0,
        "Track-segment association: a track that ended is joined to a track born at most this "
        "long after its last plot when its last state, predicted over the gap, gates the new "
        "track's first smoothed state (chi-square, 6 dof, `gate_probability`); one successor "
        "per track. Bridges coverage gaps longer than `coast_s`; 0 turns it off.",
        unit="s",
        ge=0,
    )
    stitch_manoeuvre_mps: float = setting(
        25.0,
        "Track-segment association: one-sigma change of horizontal velocity, per axis, that an "
        "object may make once anywhere in a gap (a turn the nearly-constant-velocity track could "
        "not follow; 25 m/s, an FPV drone's speed, makes turning back a 2-sigma change), added "
        "to the motion model's noise over the gap.",
        unit="m/s",
        ge=0,
    )
    crossing_margin_m: float = setting(
        150.0,
        "A track has crossed the line (or entered a zone) once its smoothed path is this far "
        "beyond it; the hysteresis that keeps noise near the line from making crossings.",
        unit="m",
        ge=0,
    )


class Settings(BaseModel):
    """All of truceline's settings, one section per concern."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: StoreSettings = StoreSettings()
    pipeline: PipelineSettings = PipelineSettings()
    log: LogSettings = LogSettings()
    gazetteer: GazetteerSettings = GazetteerSettings()
    geo: GeoSettings = GeoSettings()
    ingest: IngestSettings = IngestSettings()
    associate: AssociateSettings = AssociateSettings()
    locate: LocateSettings = LocateSettings()
    shots: ShotsSettings = ShotsSettings()
    ledger: LedgerSettings = LedgerSettings()
    attribute: AttributeSettings = AttributeSettings()
    radar: RadarSettings = RadarSettings()


@dataclass(frozen=True)
class SettingInfo:
    """The declaration of one setting, as read from the models above."""

    key: str
    type_name: str
    default: Any
    unit: str | None
    description: str
    env: tuple[str, ...]


def declared() -> Iterator[SettingInfo]:
    """Every declared setting, in declaration order."""
    for section_name, section_field in Settings.model_fields.items():
        section_model = section_field.annotation
        assert isinstance(section_model, type) and issubclass(section_model, Section)
        for name, field in section_model.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            env = (f"{ENV_PREFIX}{section_name.upper()}_{name.upper()}", *extra.get("env", []))
            annotation = field.annotation
            type_name = getattr(annotation, "__name__", None) or str(annotation)
            if str(annotation).startswith("typing.Literal"):
                type_name = " | ".join(repr(a) for a in annotation.__args__)  # type: ignore[union-attr]
            yield SettingInfo(
                key=f"{section_name}.{name}",
                type_name=type_name,
                default=field.default,
                unit=extra.get("unit"),
                description=field.description or "",
                env=tuple(env),
            )


@dataclass(frozen=True)
class LoadedSettings:
    """Settings with, for each key, the layer its value came from."""

    settings: Settings
    origins: Mapping[str, str]
    site_file: Path | None

    def value(self, key: str) -> Any:
        section, name = key.split(".", 1)
        return getattr(getattr(self.settings, section), name)


def find_site_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: configuration file not found")
        return explicit
    if environ.get("TRUCELINE_CONFIG"):
        path = Path(environ["TRUCELINE_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file (from $TRUCELINE_CONFIG) not found")
        return path
    return next((p for p in SITE_FILES if p.is_file()), None)


def _read_site_file(path: Path, known: set[str]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: '{section}' must be a table such as [{section}]")
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in known:
                raise ConfigError(f"{path}: unknown setting '{key}' (see `truceline config show`)")
            values[key] = value
    return values


def parse_assignment(text: str) -> tuple[str, str]:
    """Split a `--set section.name=value` flag into key and value."""
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise ConfigError(f"--set expects section.name=value, got '{text}'")
    return key.strip(), value.strip()


def load_settings(
    *,
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Build the settings from defaults, site file, environment and flags, in that order."""
    environ = os.environ if environ is None else environ
    infos = {info.key: info for info in declared()}
    values: dict[str, Any] = {}
    origins = {key: "default" for key in infos}

    site_file = find_site_file(config_file, environ)
    if site_file is not None:
        for key, value in _read_site_file(site_file, set(infos)).items():
            values[key], origins[key] = value, f"file {site_file}"
    for key, info in infos.items():
        for name in info.env:
            if environ.get(name) not in (None, ""):
                values[key], origins[key] = environ[name], f"env {name}"
                break
    for key, value in (flags or {}).items():
        if key not in infos:
            raise ConfigError(f"unknown setting '{key}' (see `truceline config show`)")
        values[key], origins[key] = value, "flag"

    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, name = key.split(".", 1)
        nested.setdefault(section, {})[name] = value
    try:
        settings = Settings.model_validate(nested)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"][:2])
        raise ConfigError(
            f"setting {key} (from {origins.get(key, '?')}): {err['msg']}, got {err.get('input')!r}"
        ) from exc
    return LoadedSettings(settings=settings, origins=origins, site_file=site_file)


def settings_markdown() -> str:
    """The settings reference as a Markdown table (docs/configuration.md is generated from it)."""
    rows = [
        "| setting | type | default | unit | environment | description |",
        "|---|---|---|---|---|---|",
    ]
    for s in declared():
        env = ", ".join(f"`{e}`" for e in s.env)
        type_name = s.type_name.replace("|", "\\|")  # a union's bar would split the cell
        rows.append(
            f"| `{s.key}` | {type_name} | `{s.default!r}` | {s.unit or ''} | {env} "
            f"| {s.description} |"
        )
    return "\n".join(rows) + "\n"
