"""Fault injection for the sandbox simulators: seeded, reproducible, and bounded so retries win.

Two kinds of faults (contract: docs/sources/faults.md):

- transient, decided per request from a hash of (seed, request key, attempt number for that
  key): 5xx, 429 with Retry-After, slow responses, responses slow enough to trip a client's
  read timeout, and (hostile) truncated JSON pages. At most `max_consecutive` failing
  attempts in a row per request key, so a client that retries always gets through;
- persistent (hostile only), decided per record or listing from a hash of the seed and the
  data, the same on every request: a renamed field, an added field, records missing their
  natural key, and offset listings whose first pass sees a record move.
  `persistent_faults(data, seed, profile)` lists them, so tests can assert exact outcomes
  (`data`: the province in memory or its store).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Transient fault kinds. "slow" delays a correct answer and is not a failure.
NONE = "none"
ERROR_5XX = "error_5xx"
RATE_LIMITED = "rate_limited"
TIMEOUT = "timeout"
MALFORMED_PAGE = "malformed_page"
SLOW = "slow"
FAILING = (ERROR_5XX, RATE_LIMITED, TIMEOUT, MALFORMED_PAGE)
SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True)
class FaultProfile:
    """Shares are probabilities per request (transient) or per school/record (persistent)."""

    name: str = "none"
    share_5xx: float = 0.0
    share_429: float = 0.0
    share_timeout: float = 0.0
    share_malformed_page: float = 0.0
    share_slow: float = 0.0
    slow_seconds: float = 0.3
    # Longer than the read timeout a client of the sandbox should use (a few seconds).
    timeout_seconds: float = 6.0
    retry_after_seconds: int = 1
    max_consecutive: int = 2
    # persistent (hostile)
    share_renamed_field: float = 0.0  # of schools
    share_added_field: float = 0.0  # of schools
    share_malformed_records: float = 0.0  # of records
    share_shifting_listings: float = 0.0  # of schools

    @property
    def persistent(self) -> bool:
        return any((self.share_renamed_field, self.share_added_field,
                    self.share_malformed_records, self.share_shifting_listings))


_FLAKY = dict(share_5xx=0.06, share_429=0.04, share_timeout=0.02, share_slow=0.05)
PROFILES = {
    "none": FaultProfile(),
    "flaky": FaultProfile("flaky", **_FLAKY),
    "hostile": FaultProfile("hostile", **_FLAKY, share_malformed_page=0.04,
                            share_renamed_field=0.25, share_added_field=0.25,
                            share_malformed_records=0.005, share_shifting_listings=0.3),
}


def profile(spec: str | FaultProfile) -> FaultProfile:
    """`none`, `flaky`, `hostile`, optionally with overrides: `flaky:share_5xx=0.5,slow_seconds=0.1`."""
    if isinstance(spec, FaultProfile):
        return spec
    name, _, overrides = spec.partition(":")
    if name not in PROFILES:
        raise ValueError(f"unknown fault profile {name!r}; choose one of {sorted(PROFILES)}")
    base = PROFILES[name]
    if not overrides:
        return base
    types = {f.name: f.type for f in dataclasses.fields(FaultProfile)}
    changes: dict[str, object] = {}
    for item in overrides.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in types or key == "name":
            raise ValueError(f"bad fault override {item!r}; known: {sorted(set(types) - {'name'})}")
        changes[key] = int(value) if types[key] in ("int", int) else float(value)
    return dataclasses.replace(base, **changes)


def unit(*parts: object) -> float:
    """A number in [0, 1) from a hash of the parts: the same everywhere, run after run."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def draw(prof: FaultProfile, seed: int, key: str, attempt: int) -> str:
    """The transient fault drawn for `attempt` (0-based) of request `key`, before the cap."""
    u = unit(seed, "transient", key, attempt)
    for kind, share in ((ERROR_5XX, prof.share_5xx), (RATE_LIMITED, prof.share_429),
                        (TIMEOUT, prof.share_timeout), (MALFORMED_PAGE, prof.share_malformed_page),
                        (SLOW, prof.share_slow)):
        if u < share:
            return kind
        u -= share
    return NONE


@dataclass(frozen=True)
class Fault:
    kind: str
    attempt: int
    status: int = 200
    delay: float = 0.0


class FaultInjector:
    """Decides the transient fault of each request; thread-safe, state per request key."""

    def __init__(self, prof: FaultProfile, seed: int):
        self.profile = prof
        self.seed = seed
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, int]] = {}  # key -> (attempts, consecutive failures)

    def decide(self, key: str) -> Fault:
        prof = self.profile
        with self._lock:
            attempt, consecutive = self._state.get(key, (0, 0))
            kind = draw(prof, self.seed, key, attempt)
            if kind in FAILING and consecutive >= prof.max_consecutive:
                kind = NONE  # the cap: a client that retries always gets through
            self._state[key] = (attempt + 1, consecutive + 1 if kind in FAILING else 0)
        if kind == ERROR_5XX:
            status = SERVER_ERRORS[int(unit(self.seed, "status", key, attempt) * len(SERVER_ERRORS))]
            return Fault(kind, attempt, status=status)
        if kind == RATE_LIMITED:
            return Fault(kind, attempt, status=429)
        if kind == TIMEOUT:
            return Fault(kind, attempt, status=504, delay=prof.timeout_seconds)
        if kind == SLOW:
            return Fault(kind, attempt, delay=prof.slow_seconds)
        return Fault(kind, attempt)


def request_key(method: str, path: str, query: str, body: bytes = b"") -> str:
    """What identifies "the same request" across retries: method, path, sorted query, body hash."""
    from urllib.parse import parse_qsl, urlencode

    canonical = urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
    key = f"{method} {path}?{canonical}"
    if body:
        key += " #" + hashlib.sha256(body).hexdigest()[:16]
    return key


# --- persistent (hostile) faults -----------------------------------------------------------

# Which field each source renames or adds on its learner listings, for the chosen schools.
RENAMED_FIELDS = {"sms_vendor_a": ("birth_date", "date_of_birth"),
                  "sms_vendor_b": ("so_dinh_danh", "so_cccd")}
ADDED_FIELDS = {"sms_vendor_a": "student_code", "sms_vendor_b": "ma_hoc_sinh"}
# Malformed records: served without their natural key (vendor A drops the field, vendor B and
# PCGD-XMC send null).
MALFORMED_KEYS = {("sms_vendor_a", "learners"): "learner_id",
                  ("sms_vendor_b", "learners"): "ma_dinh_danh_bo",
                  ("pcgd", "households"): "household_id"}


@dataclass
class PersistentFaults:
    """The hostile faults that do not depend on timing: the same on every request."""

    renamed_fields: list[dict] = field(default_factory=list)
    added_fields: list[dict] = field(default_factory=list)
    malformed_records: list[dict] = field(default_factory=list)
    shifting_listings: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self._renamed = {(f["source"], f["school_code"]): (f["field"], f["served_as"])
                         for f in self.renamed_fields}
        self._added = {(f["source"], f["school_code"]): f["field"] for f in self.added_fields}
        self._malformed = {(r["source"], r["entity"], r["record"]): r["field"]
                           for r in self.malformed_records}
        self._shifting = {(s["source"], s["entity"], s["school_code"]) for s in self.shifting_listings}

    def as_dict(self) -> dict[str, list[dict]]:
        return {"renamed_fields": self.renamed_fields, "added_fields": self.added_fields,
                "malformed_records": self.malformed_records,
                "shifting_listings": self.shifting_listings}

    def renamed(self, source: str, school_code: str) -> tuple[str, str] | None:
        return self._renamed.get((source, school_code))

    def added(self, source: str, school_code: str) -> str | None:
        return self._added.get((source, school_code))

    def malformed(self, source: str, entity: str, record: str) -> str | None:
        return self._malformed.get((source, entity, record))

    def shifts(self, source: str, entity: str, school_code: str) -> bool:
        return (source, entity, school_code) in self._shifting


def added_value(seed: int, source: str, record: str) -> str:
    """The value of the added field: a vendor-internal student code, stable per record."""
    return f"HS{int(unit(seed, 'added', source, record) * 10**8):08d}"


class _Picker:
    """Picks the items whose hash falls under `share`, and at least one (the lowest hash)
    when share > 0, so tests see it; fed one item at a time, so a province's records can
    stream past."""

    def __init__(self, share: float, seed: int, *salt: object):
        self.share, self.seed, self.salt = share, seed, salt
        self.chosen: list = []
        self.lowest: float | None = None
        self.lowest_item = None

    def offer(self, item, key) -> None:
        if self.share <= 0:
            return
        u = unit(self.seed, *self.salt, key)
        if u < self.share:
            self.chosen.append(item)
        if self.lowest is None or u < self.lowest:  # the first of equals, as min() keeps it
            self.lowest, self.lowest_item = u, item

    def picked(self) -> list:
        if self.lowest is None:
            return []
        return self.chosen or [self.lowest_item]


def _pick(items: Iterable, share: float, seed: int, *salt: object, key=lambda x: x) -> list:
    picker = _Picker(share, seed, *salt)
    for item in items:
        picker.offer(item, key(item))
    return picker.picked()


def _records(data, entity: str, fields: tuple[str, ...]) -> Iterable[dict]:
    """The records of `entity` in file order, from data in memory or from the store (there
    with only `fields`)."""
    if isinstance(data, Mapping):
        return data.get(entity, [])
    return data.records(entity, fields)


def persistent_faults(data, seed: int, prof: str | FaultProfile = "hostile") -> PersistentFaults:
    """Lists the persistent faults the simulators serve for this province, seed and profile.

    `data` is the province in memory (`generator.load`) or its store (`store.ProvinceStore`):
    the same list either way. Entries name the source, the school (or commune) and, for
    records, the sandbox key (`learner_key`, `household_id`) plus the natural key a client
    would have seen.
    """
    prof = profile(prof)
    if not prof.persistent:
        return PersistentFaults()
    schools = list(_records(data, "schools", ()))
    sources = ("sms_vendor_a", "sms_vendor_b")
    codes = {source: sorted(s["school_code"] for s in schools if s.get("vendor") == source)
             for source in sources}
    # One pass over the learners (600,000 at province scale): the keyless records of each
    # source, and each school's first learner and whether it has more than one.
    keyless = {source: _Picker(prof.share_malformed_records, seed, "malformed", source)
               for source in sources}
    sources_of: dict[str, list[str]] = {}
    for source in sources:
        for code in codes[source]:
            sources_of.setdefault(code, []).append(source)
    first_learner: dict[str, dict] = {}
    several: set[str] = set()
    for x in _records(data, "learners", ("school_code", "learner_key", "moet_id")):
        code = x["school_code"]
        for source in sources_of.get(code, ()):
            keyless[source].offer(x, x["learner_key"])
        if code in first_learner:
            several.add(code)
        else:
            first_learner[code] = x
    renamed, added, malformed, shifting = [], [], [], []
    for source in sources:
        for code in _pick(codes[source], prof.share_renamed_field, seed, "renamed", source):
            name, served_as = RENAMED_FIELDS[source]
            renamed.append({"source": source, "entity": "learners", "school_code": code,
                            "field": name, "served_as": served_as})
        for code in _pick(codes[source], prof.share_added_field, seed, "added", source):
            added.append({"source": source, "entity": "learners", "school_code": code,
                          "field": ADDED_FIELDS[source]})
        for x in keyless[source].picked():
            malformed.append({"source": source, "entity": "learners", "school_code": x["school_code"],
                              "record": x["learner_key"], "natural_key": x["moet_id"],
                              "field": MALFORMED_KEYS[(source, "learners")]})
    households = _records(data, "pcgd_households", ("household_id", "commune_code"))
    for h in _pick(households, prof.share_malformed_records, seed, "malformed", "pcgd",
                   key=lambda h: h["household_id"]):
        malformed.append({"source": "pcgd", "entity": "households", "commune_code": h["commune_code"],
                          "record": h["household_id"], "natural_key": h["household_id"],
                          "field": "household_id"})
    # Offset paging only (vendor A): a record moves during the first pass over the listing.
    candidates = sorted(s["school_code"] for s in schools
                        if s.get("vendor") == "sms_vendor_a" and s["school_code"] in several)
    for code in _pick(candidates, prof.share_shifting_listings, seed, "shifting"):
        first = first_learner[code]
        shifting.append({"source": "sms_vendor_a", "entity": "learners", "school_code": code,
                         "moved_record": first["learner_key"], "moved_natural_key": first["moet_id"]})
    return PersistentFaults(renamed, added, malformed, shifting)
