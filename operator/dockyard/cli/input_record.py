"""What a command read while it loaded and planned: every file opened or looked at, every
folder listed, every environment variable asked for; and whether it did anything whose
answer can change without those changing (ran a program, opened a network connection,
read a pipe), which makes the record unusable.

The no-op memo (cli/noop_memo.py) keys on this record, so it is taken from below the
code that reads: Python's audit events (`open`, `os.scandir`, `os.listdir`,
`socket.connect`, starting processes) for the files opened and folders listed, a
wrapper around `os.stat` and `os.lstat` for what is only looked at (`Path.is_file()`,
`os.path.exists()`), and a recording `os.environ`. A reader added later is recorded
without being told about it. Standard library only.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

# Audit events after which what was read does not decide what the command saw.
_UNREPEATABLE = {
    "subprocess.Popen": "ran a program",
    "os.system": "ran a program",
    "os.posix_spawn": "ran a program",
    "os.exec": "ran a program",
    "os.fork": "ran a program",
    "os.putenv": "changed the environment",
    "os.unsetenv": "changed the environment",
}

_active: Recorder | None = None
_hooked = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    rec = _active
    if rec is None:
        return
    try:
        if event == "open":
            rec.opened(args[0], args[2])
        elif event in ("os.scandir", "os.listdir"):
            rec.listed(args[0])
        elif event == "socket.connect":
            rec.connected(args[1])
        elif event in _UNREPEATABLE:
            rec.spoil(_UNREPEATABLE[event])
    except Exception:  # never fail the read itself (an exception here would)
        rec.spoil(f"could not record {event}")


def stat_key(st: os.stat_result | None, listed: bool = False) -> list[int] | None:
    """What a later stat must match: for a file its identity, size and times (a write
    always moves ctime, which no tool can set back); for a folder its identity, and its
    mtime when its entries were listed (adding, removing or renaming one moves it)."""
    if st is None:
        return None
    if stat.S_ISDIR(st.st_mode):
        return [st.st_mode, st.st_dev, st.st_ino, st.st_mtime_ns if listed else 0]
    return [st.st_mode, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


_real_stat = os.stat
_real_lstat = os.lstat


class Recorder:
    """Use as `with Recorder() as rec:`; afterwards `rec.paths`, `rec.env` and
    `rec.whole_env` hold the record, and `rec.unusable_because(...)` says why it cannot
    key a memo (None: it can)."""

    def __init__(self) -> None:
        self.paths: dict[str, list[int] | None] = {}  # "path\0how" -> stat_key
        self.env: dict[str, str | None] = {}  # name -> value, None: unset
        self.whole_env = False  # iterated: every variable counts
        self.spoiled: list[str] = []
        self.allowed_socket: str | None = None
        self.started_ns = time.time_ns()
        self._saved_environ: Any = None

    # -- what the hooks report -------------------------------------------------------
    def spoil(self, why: str) -> None:
        if why not in self.spoiled:
            self.spoiled.append(why)

    def _note(self, path: Any, how: str, follow: bool = True) -> os.stat_result | None:
        if isinstance(path, int):
            return None  # an already open descriptor: its path was recorded when opened
        try:
            name = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            self.spoil("read a path it cannot name")
            return None
        try:
            st = _real_stat(name) if follow else _real_lstat(name)
        except (OSError, ValueError):
            st = None
        self.paths.setdefault(f"{name}\0{how}", stat_key(st, how == "listed"))
        return st

    def opened(self, path: Any, flags: Any) -> None:
        if isinstance(flags, int) and flags & os.O_ACCMODE == os.O_WRONLY:
            return  # written, not read (a cache file, bytecode)
        st = self._note(path, "read")
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            self.spoil(f"read {os.fsdecode(path)}, which is not a regular file")

    def listed(self, path: Any) -> None:
        if isinstance(path, int):
            self.spoil("listed a folder by its descriptor")
        else:
            self._note("." if path is None else path, "listed")

    def looked_at(self, path: Any, dir_fd: Any, how: str) -> None:
        if dir_fd is not None:
            self.spoil("looked at a path relative to a descriptor")
        else:
            self._note(path, how, follow=how == "stat")

    def connected(self, address: Any) -> None:
        if not (isinstance(address, str) and address == self.allowed_socket):
            self.spoil("opened a network connection")

    # -- installing and removing the hooks -------------------------------------------
    def __enter__(self) -> Recorder:
        global _active, _hooked
        if _active is not None:
            raise RuntimeError("inputs are already being recorded")
        if not _hooked:
            sys.addaudithook(_audit)  # for the process's life; idle when nothing records
            _hooked = True
        rec = self

        def recorded_stat(path: Any, **kwargs: Any) -> os.stat_result:
            follow = kwargs.get("follow_symlinks", True)
            rec.looked_at(path, kwargs.get("dir_fd"), "stat" if follow else "lstat")
            return _real_stat(path, **kwargs)

        def recorded_lstat(path: Any, **kwargs: Any) -> os.stat_result:
            rec.looked_at(path, kwargs.get("dir_fd"), "lstat")
            return _real_lstat(path, **kwargs)

        self._saved_environ = os.environ
        # Swapped, not cleared: what a lookup returns is the real environment's (B003).
        os.environ = _RecordingEnviron(os.environ, self)  # type: ignore[assignment]  # noqa: B003
        os.stat = recorded_stat
        os.lstat = recorded_lstat
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = None
        os.stat = _real_stat
        os.lstat = _real_lstat
        os.environ = self._saved_environ  # noqa: B003

    # -- the result --------------------------------------------------------------------
    def unusable_because(self, racy_seconds: float) -> str | None:
        """Why the record cannot key a memo, or None. A file changed within `racy_seconds`
        before recording began is too recent: a second write in the same clock tick could
        leave its size and times as they were."""
        if self.spoiled:
            return self.spoiled[0]
        horizon = self.started_ns - int(racy_seconds * 1e9)
        for key, st in self.paths.items():
            times = [] if st is None else st[4:] if len(st) == 6 else st[3:]  # see stat_key
            if any(t >= horizon for t in times):
                return f"{key.split(chr(0))[0]} changed too recently"
        return None


def paths_unchanged(paths: dict[str, list[int] | None]) -> bool:
    """Every recorded path stats as it did (absent ones still absent)."""
    for key, want in paths.items():
        name, how = key.split("\0")
        try:
            st = _real_lstat(name) if how == "lstat" else _real_stat(name)
        except (OSError, ValueError):
            st = None
        if stat_key(st, how == "listed") != want:
            return False
    return True


class _RecordingEnviron(MutableMapping[str, str]):
    """os.environ that remembers each name asked for (and its value, or that it is unset);
    a walk over all of it makes every variable count."""

    def __init__(self, real: MutableMapping[str, str], rec: Recorder) -> None:
        self._real = real
        self._rec = rec

    def __getitem__(self, key: str) -> str:
        try:
            value = self._real[key]
        except KeyError:
            self._rec.env.setdefault(key, None)
            raise
        self._rec.env.setdefault(key, value)
        return value

    def __iter__(self) -> Iterator[str]:
        self._rec.whole_env = True
        return iter(self._real)

    def __len__(self) -> int:
        self._rec.whole_env = True
        return len(self._real)

    def __setitem__(self, key: str, value: str) -> None:
        self._rec.spoil("changed the environment")
        self._real[key] = value

    def __delitem__(self, key: str) -> None:
        self._rec.spoil("changed the environment")
        del self._real[key]

    def copy(self) -> dict[str, str]:
        self._rec.whole_env = True
        return dict(self._real)
