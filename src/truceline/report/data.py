"""What a report rests on, gathered from the store for one period.

`gather` reads events (with their violations), the analysts' reviews, sensors, the newest
`process` run, the newest signed ledger head and, when given, the `truceline evaluate --json`
output; it places events along the line (chainage, sector) and beside the nearest settlement, and
counts them per sector and party. Figures and HTML only format what is here.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from truceline.agreement import load_agreement
from truceline.agreement.model import Agreement, RuleKind, Sector
from truceline.attribute.words import describe, yardstick
from truceline.config import Settings
from truceline.errors import UsageError
from truceline.geo.gazetteer import Gazetteer
from truceline.ledger.head import TreeHead
from truceline.records import Event, Review, Run, Sensor, Violation
from truceline.timeutil import NS_PER_S, format_time, parse_time

UNDETERMINED = "undetermined"

# The report's categories, in the order its tables show them. Each counts events (launches,
# impacts, air crossings) or violations of withdrawal and zone rules (weapons in zones).
CATEGORIES = ("launches", "impacts", "air crossings", "weapons in zones")
_WEAPON_RULE_KINDS = (RuleKind.WITHDRAWAL, RuleKind.ZONE_EXCLUSION)


@dataclass(frozen=True)
class Period:
    """The half-open UTC interval [since_ns, until_ns) a report covers."""

    since_ns: int
    until_ns: int

    @classmethod
    def parse(cls, day: str | None, start: str | None, end: str | None) -> Period:
        """From `--date YYYY-MM-DD` (a UTC day) or `--from/--to` (dates or RFC 3339 times;
        a date as `--to` includes that whole day)."""
        if day is not None:
            if start is not None or end is not None:
                raise UsageError("give --date or --from/--to, not both")
            since = _day_ns(day, "--date")
            return cls(since, since + 86_400 * NS_PER_S)
        if start is None or end is None:
            raise UsageError("give --date YYYY-MM-DD, or both --from and --to")
        since = _bound_ns(start, "--from", end_of_day=False)
        until = _bound_ns(end, "--to", end_of_day=True)
        if until <= since:
            raise UsageError(f"--to ({end}) must be after --from ({start})")
        return cls(since, until)

    @property
    def label(self) -> str:
        since, until = format_time(self.since_ns), format_time(self.until_ns)
        if self.until_ns - self.since_ns == 86_400 * NS_PER_S and since.endswith("T00:00:00Z"):
            return since[:10]
        return f"{since} to {until}"

    def hours(self) -> int:
        return max(1, -(-(self.until_ns - self.since_ns) // (3600 * NS_PER_S)))


def _day_ns(text: str, option: str) -> int:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS_PER_S


def _bound_ns(text: str, option: str, *, end_of_day: bool) -> int:
    if len(text) == 10:
        ns = _day_ns(text, option)
        return ns + (86_400 * NS_PER_S if end_of_day else 0)
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


@dataclass
class Placed:
    """One event as the report shows it: where along the line, near what, whose, how sure."""

    event: Event
    chainage_km: float
    sector: Sector
    place: str
    party: str
    """The party attributed (top probability above the party threshold) or `undetermined`."""
    probability: float
    """The top party's probability (0 with no attribution)."""
    review: Review | None
    """The newest analyst review of the event, if any."""


@dataclass
class Cell:
    """A count in the per-sector, per-party table with its mean attribution confidence."""

    count: int = 0
    probability_sum: float = 0.0

    def add(self, probability: float) -> None:
        self.count += 1
        self.probability_sum += probability

    @property
    def mean_probability(self) -> float:
        return self.probability_sum / self.count if self.count else 0.0


@dataclass
class ReportData:
    period: Period
    agreement: Agreement
    agreement_ref: str
    settings: Settings
    events: list[Placed]
    sensors: list[Sensor]
    reviews: dict[str, Review]
    run: Run | None
    head: TreeHead | None
    head_verified: bool | None
    ledger_size: int
    evaluation: dict[str, Any] | None
    evaluation_path: str | None
    generated_ns: int
    counts: dict[tuple[str, str, str], Cell] = field(default_factory=dict)
    """(sector name, party, category) -> count and mean confidence."""

    @property
    def parties(self) -> list[str]:
        ids = [p.id for p in self.agreement.parties]
        return [*ids, UNDETERMINED]

    def party_name(self, party: str) -> str:
        for p in self.agreement.parties:
            if p.id == party:
                return p.name
        return "undetermined"

    def sectors(self) -> list[str]:
        """The sector names that have events, in order along the line."""
        seen = {(p.sector.index, p.sector.name) for p in self.events}
        return [name for _, name in sorted(seen)]

    def describe(self, probability: float) -> str:
        return describe(probability, self.settings.attribute.yardstick)

    @property
    def yardstick_name(self) -> str:
        return yardstick(self.settings.attribute.yardstick).name

    def violations(self) -> list[tuple[Placed, Violation]]:
        return [(p, v) for p in self.events for v in p.event.violations]

    def notable(self, limit: int = 12) -> list[Placed]:
        """The incidents the report names: those an analyst reviewed, then heavy-weapon and zone
        violations, then the other violations, then the rest, each ranked by its top
        probability; shown in time order."""
        kinds = {r.id: r.kind for r in self.agreement.rules}

        def rank(p: Placed) -> tuple[int, float, int]:
            rules = {kinds.get(v.rule) for v in p.event.violations}
            weapons = any(k in _WEAPON_RULE_KINDS for k in rules)
            return (
                0 if p.review else 1 if weapons else 2 if p.event.violations else 3,
                -p.probability,
                p.event.origin.time_ns,
            )

        chosen: list[Placed] = []
        per_place: Counter[str] = Counter()
        for p in sorted(self.events, key=rank):  # at most two from one place: say more places
            if p.review is None and per_place[p.place] >= 2:
                continue
            per_place[p.place] += 1
            chosen.append(p)
            if len(chosen) == limit:
                break
        return sorted(chosen, key=lambda p: p.event.origin.time_ns)


def top_party(event: Event, threshold: float) -> tuple[str, float]:
    if not event.attribution:
        return UNDETERMINED, 0.0
    party, probability = max(event.attribution.items(), key=lambda kv: (kv[1], kv[0]))
    return (party if probability > threshold else UNDETERMINED), float(probability)


def _newest_review(event: Event, reviews: dict[str, Review]) -> Review | None:
    """The newest review of the event or of one of its violations."""
    found = [reviews[i] for i in (event.id, *(v.id for v in event.violations)) if i in reviews]
    return max(found, key=lambda r: r.time_ns) if found else None


def resolve_agreement(given: str | None, run: Run | None) -> str:
    """The agreement to draw: as given, else the one the newest run recorded, else the bundled
    `illustrative-2026`."""
    if given:
        return given
    if run is not None and run.summary and run.summary.get("agreement"):
        return str(run.summary["agreement"])
    return "illustrative-2026"


def read_evaluation(path: str | Path | None) -> dict[str, Any] | None:
    """The `truceline evaluate --json` output at `path` (None: not evaluated)."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the evaluation {path}: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith(
        "truceline-evaluate/"
    ):
        raise UsageError(f"{path} is not `truceline evaluate --json` output")
    return data


def gather(
    store: Any,
    period: Period,
    settings: Settings,
    *,
    agreement: str | None = None,
    evaluation: str | Path | None = None,
    public_key: Any = None,
) -> ReportData:
    """Everything the report shows for `period`, from `store`."""
    from truceline.timeutil import now_ns

    runs = [r for r in store.runs() if r.command == "process"]
    run = runs[-1] if runs else None
    agreement_ref = resolve_agreement(agreement, run)
    terms = load_agreement(agreement_ref)
    events = store.events(period.since_ns, period.until_ns)
    reviews: dict[str, Review] = {}
    for review in store.reviews():
        reviews[review.target_id] = review  # oldest first: the newest wins
    threshold = settings.attribute.party_threshold
    placed: list[Placed] = []
    if events:
        lon = np.array([e.origin.lon for e in events])
        lat = np.array([e.origin.lat for e in events])
        chainage = terms.chainage_km(lon, lat)
        sectors = terms.sectors(settings.geo.sector_length_km)
        edges = np.array([s.end_km for s in sectors])
        index = np.minimum(np.searchsorted(edges, chainage, side="right"), len(sectors) - 1)
        gazetteer = Gazetteer(settings.gazetteer.min_population, settings.gazetteer.max_distance_km)
        places = gazetteer.describe_many(lon, lat)
        for i, event in enumerate(events):
            party, probability = top_party(event, threshold)
            placed.append(
                Placed(
                    event,
                    float(chainage[i]),
                    sectors[int(index[i])],
                    str(places[i]),
                    party,
                    probability,
                    _newest_review(event, reviews),
                )
            )
    ledger = store.ledger
    head = ledger.latest_head() if ledger is not None else None
    verified = None
    if head is not None and public_key is not None:
        verified = head.verify(public_key)
    data = ReportData(
        period=period,
        agreement=terms,
        agreement_ref=agreement_ref,
        settings=settings,
        events=placed,
        sensors=store.sensors(),
        reviews=reviews,
        run=run,
        head=head,
        head_verified=verified,
        ledger_size=ledger.size() if ledger is not None else 0,
        evaluation=read_evaluation(evaluation),
        evaluation_path=None if evaluation is None else str(evaluation),
        generated_ns=now_ns(),
    )
    data.counts = count(data)
    return data


def count(data: ReportData) -> dict[tuple[str, str, str], Cell]:
    """Per sector, party and category: how many, and the mean attribution probability.

    Launches and impacts count events by type; air crossings count `no-crossing` violations;
    weapons in zones count violations of withdrawal and zone-exclusion rules (one per rule
    broken). A violation's party is the one it names, else undetermined."""
    kinds = {r.id: r.kind for r in data.agreement.rules}
    cells: dict[tuple[str, str, str], Cell] = defaultdict(Cell)
    for p in data.events:
        sector = p.sector.name
        if p.event.type == "launch":
            cells[sector, p.party, "launches"].add(p.probability)
        elif p.event.type == "impact":
            cells[sector, p.party, "impacts"].add(p.probability)
        for v in p.event.violations:
            party = v.party or UNDETERMINED
            share = p.event.attribution.get(v.party, 0.0) if v.party else p.probability
            kind = kinds.get(v.rule)
            if kind is RuleKind.NO_CROSSING:
                cells[sector, party, "air crossings"].add(share)
            elif kind in _WEAPON_RULE_KINDS:
                cells[sector, party, "weapons in zones"].add(share)
    return dict(cells)


def per_hour(data: ReportData) -> tuple[list[int], dict[str, list[int]]]:
    """Violations per hour per party: hour starts (ns) and counts by party."""
    hours = data.period.hours()
    counts: dict[str, list[int]] = {party: [0] * hours for party in data.parties}
    for p, v in data.violations():
        hour = int((p.event.origin.time_ns - data.period.since_ns) // (3600 * NS_PER_S))
        if 0 <= hour < hours:
            counts[v.party or UNDETERMINED][hour] += 1
    starts = [data.period.since_ns + h * 3600 * NS_PER_S for h in range(hours)]
    return starts, counts


def totals(data: ReportData) -> Counter[tuple[str, str]]:
    """(party, category) -> count over all sectors."""
    out: Counter[tuple[str, str]] = Counter()
    for (_, party, category), cell in data.counts.items():
        out[party, category] += cell.count
    return out


def hour_label(ns: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ns // NS_PER_S)).strftime("%H")
