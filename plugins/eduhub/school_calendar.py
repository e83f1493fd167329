"""The school calendar: the school year and term of any day, from dates the Sở sets as data.

Two seeds of the dbt project hold the calendar, so the models (dbt reads them) and the DAGs
(this module reads the same files) share it:

- `dbt_project/seeds/school_calendar_defaults.csv`: the MOET default rule, one row per date of
  a school year, as a month and day in the year's first (`year_offset` 0) or second (1)
  calendar year: opening day 5 September, end of học kỳ I 18 January, end of học kỳ II
  31 May, reporting deadlines 18 January (mid-year) and 7 June (end of year), statistics data
  dates 30 September and 31 May, the inspection sample frozen on 15 September.
- `dbt_project/seeds/school_calendar.csv`: the years the Sở has set, one row per school year;
  an empty cell takes the default. A year not listed is all defaults, so the calendar never
  stops at a year.

The rule (dbt's `int_school_years` and `int_school_terms` apply the same one; the tests prove
that both agree, day by day):

- School year `Y-(Y+1)` runs from its `year_start` to the day before the `year_start` of
  `(Y+1)-(Y+2)`: the rollover is the opening day of the new year, whatever the month.
- Its terms (học kỳ): `hk1` from `year_start` to `hk1_end`; `hk2` from the next day to
  `hk2_end`; then, until the next year starts, the summer, `ca_nam`: the summer (June to early
  September) belongs to the year that just ended, whose whole-year results it completes.
- Its reports (what the marts call `term`, the codes of the reporting deadlines): the mid-year
  report `hk1` covers `year_start` to `hk1_end` (deadline `mid_year_deadline`), the end-of-year
  report `ca_nam` covers the rest of the year, hk2 and the summer (deadline
  `end_of_year_deadline`). A report is due once its deadline has passed.
- The inspection sample's seed is the opening day written as digits (20260905), unless set.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from eduhub import settings

CALENDAR_FILE = "school_calendar.csv"
DEFAULTS_FILE = "school_calendar_defaults.csv"

# The dates of a school year, in order of the CSV columns.
DATE_FIELDS = ("year_start", "hk1_end", "hk2_end", "mid_year_deadline", "end_of_year_deadline",
               "start_of_year_data_date", "end_of_year_data_date", "inspection_freeze_date")
TERMS = ("hk1", "hk2", "ca_nam")
REPORT_TERMS = ("hk1", "ca_nam")
REPORT_NAMES = {"hk1": "Báo cáo giữa năm học", "ca_nam": "Báo cáo cuối năm học"}
_YEAR_NAME = re.compile(r"^(\d{4})-(\d{4})$")


class CalendarError(ValueError):
    """The calendar data are malformed or contradict themselves."""


def first_year_of(school_year: str) -> int:
    """'2026-2027' -> 2026."""
    match = _YEAR_NAME.match(school_year or "")
    if not match or int(match[2]) != int(match[1]) + 1:
        raise CalendarError(f"not a school year: {school_year!r} (expected e.g. 2026-2027)")
    return int(match[1])


def year_name(first_year: int) -> str:
    return f"{first_year}-{first_year + 1}"


@dataclass(frozen=True)
class DefaultDate:
    """A date of the default rule: month and day in the first (0) or second (1) calendar year."""

    month: int
    day: int
    year_offset: int

    def on(self, first_year: int) -> date:
        return date(first_year + self.year_offset, self.month, self.day)


@dataclass(frozen=True)
class Report:
    term: str
    report_name: str
    term_start: date
    deadline: date


@dataclass(frozen=True)
class SchoolYear:
    first_year: int
    year_start: date
    hk1_end: date
    hk2_end: date
    year_end: date  # the day before the next year's year_start
    mid_year_deadline: date
    end_of_year_deadline: date
    start_of_year_data_date: date
    end_of_year_data_date: date
    inspection_freeze_date: date
    inspection_seed: int

    @property
    def name(self) -> str:
        return year_name(self.first_year)

    @property
    def hk2_start(self) -> date:
        return self.hk1_end + timedelta(days=1)

    def __contains__(self, day: date) -> bool:
        return self.year_start <= day <= self.year_end

    def _check(self, day: date) -> None:
        if day not in self:
            raise CalendarError(f"{day} is not in school year {self.name}")

    def term(self, day: date) -> str:
        """hk1, hk2, or ca_nam for the summer after hk2."""
        self._check(day)
        if day <= self.hk1_end:
            return "hk1"
        return "hk2" if day <= self.hk2_end else "ca_nam"

    def reports(self) -> tuple[Report, Report]:
        """The mid-year and end-of-year reports (what dbt's int_reporting_deadlines holds)."""
        return (Report("hk1", REPORT_NAMES["hk1"], self.year_start, self.mid_year_deadline),
                Report("ca_nam", REPORT_NAMES["ca_nam"], self.hk2_start,
                       self.end_of_year_deadline))

    def report_term(self, day: date) -> str:
        """The report a day's data count towards: hk1 until hk1_end, ca_nam after."""
        self._check(day)
        return "hk1" if day <= self.hk1_end else "ca_nam"

    def report_due_within(self, day: date, days: int) -> Report | None:
        """The report whose deadline falls on `day` or in the `days` after it, if any."""
        ahead = [r for r in self.reports() if day <= r.deadline <= day + timedelta(days=days)]
        return min(ahead, key=lambda r: r.deadline) if ahead else None

    def due_report_term(self, day: date) -> str | None:
        """The last report of the year whose deadline is past on `day` (None: none yet)."""
        self._check(day)
        due = [r for r in self.reports() if r.deadline < day]
        return max(due, key=lambda r: r.deadline).term if due else None


@dataclass(frozen=True)
class SchoolDay:
    day: date
    year: SchoolYear
    term: str
    report_term: str
    due_report_term: str | None

    @property
    def school_year(self) -> str:
        return self.year.name


class SchoolCalendar:
    """The calendar: the default rule, and the dates the Sở set for some years."""

    def __init__(self, defaults: dict[str, DefaultDate],
                 overrides: dict[int, dict[str, date | int]] | None = None):
        missing = [f for f in DATE_FIELDS if f not in defaults]
        if missing:
            raise CalendarError(f"the default rule has no {', '.join(missing)}")
        self.defaults = dict(defaults)
        self.overrides = {year: dict(values) for year, values in (overrides or {}).items()}
        self._years: dict[int, SchoolYear] = {}

    @classmethod
    def from_csv(cls, seeds_dir: Path | None = None) -> SchoolCalendar:
        seeds_dir = Path(seeds_dir or settings.DBT_PROJECT_DIR / "seeds")
        defaults = {}
        for row in _rows(seeds_dir / DEFAULTS_FILE):
            try:
                defaults[row["field"].strip()] = DefaultDate(
                    int(row["month"]), int(row["day"]), int(row["year_offset"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise CalendarError(f"{DEFAULTS_FILE}: bad row {row}: {exc}") from exc
        overrides: dict[int, dict[str, date | int]] = {}
        for row in _rows(seeds_dir / CALENDAR_FILE):
            first = first_year_of((row.get("school_year") or "").strip())
            if first in overrides:
                raise CalendarError(f"{CALENDAR_FILE}: {year_name(first)} listed twice")
            values: dict[str, date | int] = {}
            try:
                for field in DATE_FIELDS:
                    if (row.get(field) or "").strip():
                        values[field] = date.fromisoformat(row[field].strip())
                if (row.get("inspection_seed") or "").strip():
                    values["inspection_seed"] = int(row["inspection_seed"])
            except ValueError as exc:
                raise CalendarError(f"{CALENDAR_FILE}, {year_name(first)}: {exc}") from exc
            overrides[first] = values
        return cls(defaults, overrides)

    def _date(self, first_year: int, field: str) -> date:
        value = self.overrides.get(first_year, {}).get(field)
        if value is not None:
            return value
        try:
            return self.defaults[field].on(first_year)
        except ValueError as exc:  # 29 February in a common year
            raise CalendarError(f"default {field} of {year_name(first_year)}: {exc}") from exc

    def year_start(self, first_year: int) -> date:
        start = self._date(first_year, "year_start")
        if start.year != first_year:
            raise CalendarError(f"{year_name(first_year)} cannot start on {start}")
        return start

    def year(self, first_year: int | str) -> SchoolYear:
        """A school year by its first calendar year (2026) or its name ('2026-2027')."""
        first = first_year_of(first_year) if isinstance(first_year, str) else int(first_year)
        if first not in self._years:
            self._years[first] = self._make_year(first)
        return self._years[first]

    def _make_year(self, first: int) -> SchoolYear:
        dates = {f: self._date(first, f) for f in DATE_FIELDS}
        dates["year_start"] = self.year_start(first)
        year_end = self.year_start(first + 1) - timedelta(days=1)
        if not dates["year_start"] < dates["hk1_end"] < dates["hk2_end"] <= year_end:
            raise CalendarError(
                f"{year_name(first)}: expected year_start < hk1_end < hk2_end < next year's "
                f"start, got {dates['year_start']}, {dates['hk1_end']}, {dates['hk2_end']}, "
                f"{year_end + timedelta(days=1)}")
        seed = self.overrides.get(first, {}).get("inspection_seed")
        return SchoolYear(first_year=first, year_end=year_end,
                          inspection_seed=int(seed) if seed is not None
                          else int(dates["year_start"].strftime("%Y%m%d")), **dates)

    def year_of(self, day: date) -> SchoolYear:
        """The school year a day belongs to: the last one started on or before it."""
        first = day.year if day >= self.year_start(day.year) else day.year - 1
        return self.year(first)

    def day(self, day: date) -> SchoolDay:
        year = self.year_of(day)
        return SchoolDay(day, year, year.term(day), year.report_term(day),
                         year.due_report_term(day))

    def previous(self, year: SchoolYear, count: int = 1) -> SchoolYear:
        return self.year(year.first_year - count)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return [row for row in csv.DictReader(f) if any((v or "").strip()
                                                            for v in row.values())]
    except FileNotFoundError as exc:
        raise CalendarError(f"the school calendar has no {path}") from exc


@functools.lru_cache(maxsize=8)
def _load(seeds_dir: Path, stamps: tuple[int, ...]) -> SchoolCalendar:
    return SchoolCalendar.from_csv(seeds_dir)


def calendar(seeds_dir: Path | None = None) -> SchoolCalendar:
    """The calendar of the dbt project's seeds (read again when a file changes)."""
    seeds_dir = Path(seeds_dir or settings.DBT_PROJECT_DIR / "seeds")
    stamps = tuple((seeds_dir / name).stat().st_mtime_ns if (seeds_dir / name).exists() else 0
                   for name in (DEFAULTS_FILE, CALENDAR_FILE))
    return _load(seeds_dir, stamps)


def school_day(day: date) -> SchoolDay:
    """The school year, term and reports of a day."""
    return calendar().day(day)


def school_year(day: date) -> str:
    """'2026-2027' for any day from its opening day to the day before the next one's."""
    return calendar().year_of(day).name


def term(day: date) -> str:
    """hk1, hk2 or ca_nam (the summer after hk2, until the next year starts)."""
    return calendar().day(day).term
