"""What makes an update wait on a device: an update lock held by the app, or a closed
maintenance window. Waiting updates never block repairs: the controller keeps the running
version converged (restarts, drift) while the new one waits.

Update lock (as balena's supervisor offers): a file `updates.lock` in the app's lock
folder, `{lock dir}/{app}/`, which the app's own containers mount (hostPath) and create
while they must not be disturbed. Its first line names the holder; its age is how long
it has been held. A lock older than the TTL is reported as stale, and still honoured:
never broken behind the app's back.

Maintenance windows: `[DAYS ]HH:MM-HH:MM` in the device's local time, e.g.
`02:00-04:00`, `Sat,Sun 00:00-23:59`, `Mon-Fri 22:00-02:00` (past midnight is fine).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

LOCK_FILE = "updates.lock"
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class Lock:
    app: str
    holder: str
    since: float  # epoch seconds
    stale: bool

    def to_json(self) -> dict[str, object]:
        return {
            "holder": self.holder,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
            "ageSeconds": round(time.time() - self.since),
            "stale": self.stale,
        }

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))
        stale = " (older than its TTL: stale, still honoured)" if self.stale else ""
        return f"update lock held by {self.holder} since {since}{stale}"


def lock_folder(lock_dir: Path, app: str) -> Path:
    return lock_dir / app


def read_lock(lock_dir: Path, app: str, ttl: float) -> Lock | None:
    path = lock_folder(lock_dir, app) / LOCK_FILE
    try:
        since = path.stat().st_mtime
        with path.open("rb") as f:
            first = f.readline(200).decode("utf-8", "replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        first, since = "", time.time()
    return Lock(app, first or "unknown", since, time.time() - since > ttl)


@dataclass(frozen=True)
class Window:
    text: str
    days: frozenset[int] | None  # 0 = Monday; None: every day
    start: int  # minutes after midnight
    end: int

    def open_at(self, at: datetime) -> bool:
        minute = at.hour * 60 + at.minute
        day = at.weekday()
        if self.start < self.end:
            return self._day(day) and self.start <= minute < self.end
        # Past midnight: the part before midnight belongs to the day it started on.
        if minute >= self.start:
            return self._day(day)
        return minute < self.end and self._day((day - 1) % 7)

    def _day(self, day: int) -> bool:
        return self.days is None or day in self.days


def parse_window(text: str) -> Window:
    """`[DAYS ]HH:MM-HH:MM`; DAYS is `Mon-Fri`, `Sat,Sun` or a mix (`Mon,Wed-Fri`)."""
    parts = text.strip().split()
    if len(parts) not in (1, 2):
        raise ValueError(f"maintenance window {text!r}: write [DAYS ]HH:MM-HH:MM")
    days = _parse_days(parts[0], text) if len(parts) == 2 else None
    span = parts[-1]
    start, sep, end = span.partition("-")
    if not sep:
        raise ValueError(f"maintenance window {text!r}: write HH:MM-HH:MM, e.g. 02:00-04:00")
    a, b = _minutes(start, text), _minutes(end, text)
    if a == b:
        raise ValueError(f"maintenance window {text!r}: starts and ends at the same time")
    return Window(text.strip(), days, a, b)


def _minutes(value: str, text: str) -> int:
    hh, sep, mm = value.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"maintenance window {text!r}: {value!r} is not HH:MM (00:00-23:59)")
    return int(hh) * 60 + int(mm)


def _parse_days(value: str, text: str) -> frozenset[int]:
    found: set[int] = set()
    for item in value.lower().split(","):
        first, sep, last = item.partition("-")
        if first[:3] not in _DAYS or (sep and last[:3] not in _DAYS):
            raise ValueError(
                f"maintenance window {text!r}: {item!r} is not a day (Mon … Sun, or Mon-Fri)"
            )
        a = _DAYS.index(first[:3])
        b = _DAYS.index(last[:3]) if sep else a
        day = a
        while True:
            found.add(day)
            if day == b:
                break
            day = (day + 1) % 7
    return frozenset(found)


def window_open(windows: Sequence[Window], at: datetime | None = None) -> bool:
    """No windows: always open."""
    if not windows:
        return True
    at = at or datetime.now().astimezone()
    return any(w.open_at(at) for w in windows)


def next_opening(windows: Sequence[Window], at: datetime | None = None) -> datetime | None:
    """The next minute a window opens (None when always open), for status messages."""
    if not windows:
        return None
    at = (at or datetime.now().astimezone()).replace(second=0, microsecond=0)
    for step in range(1, 8 * 24 * 60):
        candidate = at + timedelta(minutes=step)
        if window_open(windows, candidate):
            return candidate
    return None
