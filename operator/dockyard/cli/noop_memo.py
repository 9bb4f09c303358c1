"""The no-op memo: `apply` and `diff` answer "up to date" without loading the spec again
when nothing they read has changed.

A GitOps pipeline runs `dockyard apply -f DIR` every few minutes, and almost every run
finds nothing to do. Python's start and the imports of validating a spec cost several
times what the work does, so a run that finds nothing to do records, in a memo:

- every input it read while loading and planning (cli/input_record.py): each file opened
  or looked at (its identity, size and times), each folder listed, each environment
  variable asked for (its value hashed with a salt of the memo's own, never stored);
- what the engine held (a fingerprint of the four list calls, engine/snapshot_lists.py);
- dockyard's own code and interpreter (the files' sizes and times, `sys.path`).

The planner is a pure function of the loaded spec and the snapshot, so the next run of
the same command, in the same folder, may print the same answer when every input stats
as recorded and the engine's lists have the same fingerprint: it loads the standard
library only, and reads the four lists itself. Anything else — an input changed or gone,
a container stopped, an image re-tagged, a memo that cannot be read — runs the command in
full, which then records afresh.

No memo is made when what a run read does not decide what it saw: a secret from a
program or from Kubernetes, `pullPolicy: Always`, a build, DockerHosts, standard input,
an engine not on a local socket, `--wait`, `--policy`, `-o json|yaml`, any warning, or a
file changed within RACY_SECONDS of the run (docs/cli.md, "The no-op memo").
`DOCKYARD_NO_MEMO=1` turns it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from dockyard import __version__

if TYPE_CHECKING:
    from .input_record import Recorder

FORMAT = 1
RACY_SECONDS = 2.0
# Set, these change what the command does without being read while it loads.
REFUSED_ENV = ("DOCKYARD_NO_MEMO", "DOCKYARD_POLICY", "_DOCKYARD_COMPLETE")
_OPTIONS = {
    "apply": {"-f": "file", "--filename": "file", "-H": "host", "--host": "host",
              "-j": "count", "--concurrency": "count", "-q": "flag", "--quiet": "flag"},
    "diff": {"-f": "file", "--filename": "file", "-H": "host", "--host": "host"},
    "plan": {"-f": "file", "--filename": "file", "-H": "host", "--host": "host"},
}  # fmt: skip


def path_text(raw: str) -> str:
    """`str(Path(raw))` without pathlib: how typer hands a `-f` value to the command."""
    lead = "//" if raw.startswith("//") and not raw.startswith("///") else raw[:1] == "/" and "/"
    parts = [p for p in raw.split("/") if p and p != "."]
    return (lead or "") + "/".join(parts) or "."


def parse(args: list[str]) -> tuple[str, list[str], str | None] | None:
    """(command, files, host) of a command line the memo can answer, else None."""
    if not args or args[0] not in _OPTIONS:
        return None
    options = _OPTIONS[args[0]]
    files: list[str] = []
    host: str | None = None
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        kind = options.get(name)
        if kind is None or (kind == "flag" and eq):
            return None
        if kind != "flag" and not eq:
            value = next(rest, None)  # type: ignore[assignment]
            if value is None:
                return None
        if kind == "file":
            if value == "-":
                return None
            files.append(path_text(value))
        elif kind == "host":
            if host is not None:
                return None
            host = value
        elif kind == "count" and not (value.isascii() and value.isdigit() and int(value) >= 1):
            return None
    return (args[0], files, host) if files else None


def memo_path(command: str, files: list[str], host: str | None) -> str:
    import hashlib

    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    what = json.dumps([command, os.getcwd(), files, host])
    name = hashlib.blake2b(what.encode(), digest_size=16).hexdigest()
    return os.path.join(cache, "dockyard", "noop", name + ".json")


def code_stamp() -> str:
    """dockyard's files, the interpreter and the folders it imports from, as they stat."""
    import hashlib

    import dockyard

    parts = [sys.version, sys.executable, __version__]
    folders = [os.path.dirname(dockyard.__file__)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append(entry.path)
                else:
                    st = entry.stat()
                    parts.append(f"{entry.path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}")
    for folder in sys.path:
        try:
            parts.append(f"{folder}:{os.stat(folder or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{folder}:-")
    return hashlib.blake2b("\n".join(sorted(parts)).encode(), digest_size=20).hexdigest()


def _salted(salt: str, value: str) -> str:
    import hashlib

    return hashlib.blake2b(value.encode(), key=bytes.fromhex(salt), digest_size=20).hexdigest()


def _whole_env(salt: str) -> str:
    return _salted(salt, json.dumps(sorted(os.environ.items())))


def _holds(memo: dict[str, Any]) -> bool:
    from dockyard.engine.snapshot_lists import fingerprint, read_lists

    from .input_record import paths_unchanged

    if memo.get("format") != FORMAT or memo.get("dockyard") != __version__:
        return False
    salt = memo["salt"]
    for name, want in memo["env"].items():
        value = os.environ.get(name)
        if (None if value is None else _salted(salt, value)) != want:
            return False
    if memo["wholeEnv"] is not None and _whole_env(salt) != memo["wholeEnv"]:
        return False
    if not paths_unchanged(memo["paths"]) or code_stamp() != memo["code"]:
        return False
    return bool(fingerprint(read_lists(memo["socket"])) == memo["lists"])


def answer(args: list[str]) -> bool:
    """Print the memo's answer to `args` and return True when it still holds; False: the
    command runs in full."""
    parsed = parse(args)
    if parsed is None or any(name in os.environ for name in REFUSED_ENV):
        return False
    try:
        with open(memo_path(*parsed), encoding="utf-8") as handle:
            memo = json.load(handle)
        if not _holds(memo):
            return False
        text = str(memo["stdout"])
    except Exception:  # a memo unreadable, malformed, or an engine not answering: run in full
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def unfit_for_memo(result: Any, plans: list[Any]) -> str | None:
    """Why a run that loaded `result` (a LoadResult) into `plans` (AppPlans) keys no memo:
    something it printed or asked is not among the inputs recorded."""
    if result.warnings or any(p.plan.errors or p.plan.warnings for p in plans):
        return "it printed warnings"
    for p in plans:
        for svc in p.loaded.app.spec.services:
            if svc.pull_policy == "Always":
                return f"service {svc.name} has pullPolicy Always: the registry is asked"
            if svc.build is not None:
                return f"service {svc.name} is built"
    return None


class Recording:
    """One full run of a command that may end as a no-op: `with memo.recording():` around
    loading and planning, then `memo.save(...)` when it found nothing to do."""

    def __init__(self, command: str, files: list[str], host: str | None, eligible: bool) -> None:
        self.path = memo_path(command, [path_text(f) for f in files], host)
        if "DOCKYARD_NO_MEMO" not in os.environ:  # off: memos neither read nor written
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # this run is the answer now, whatever the memo said
        eligible = eligible and "-" not in files and not any(n in os.environ for n in REFUSED_ENV)
        self.recorder: Recorder | None = None
        self.answers: dict[str, Any] | None = None
        if eligible:
            from .input_record import Recorder

            self.recorder = Recorder()
            self.answers = {}

    def recording(self) -> Any:
        return self.recorder if self.recorder is not None else contextlib.nullcontext()

    def allow_socket(self, socket: str | None) -> None:
        """The engine's own socket: connecting to it is the snapshot, recorded apart."""
        if self.recorder is not None:
            self.recorder.allowed_socket = socket

    def save(self, stdout: str, result: Any, plans: list[Any]) -> str | None:
        """Write the memo of a run that loaded `result` into `plans`, printed `stdout` and
        changed nothing; None, or why no memo was written."""
        rec = self.recorder
        if rec is None or self.answers is None:
            return "not recorded"
        from dockyard.engine.snapshot_lists import LISTS, fingerprint

        socket = rec.allowed_socket
        why = unfit_for_memo(result, plans)
        why = why or (None if socket else "the engine is not on a local socket")
        why = why or rec.unusable_because(RACY_SECONDS)
        if why is None and len(self.answers) != len(LISTS):
            why = "the engine's lists were not read"
        if why is not None:
            return why
        salt = os.urandom(16).hex()
        memo = {
            "format": FORMAT,
            "dockyard": __version__,
            "code": code_stamp(),
            "socket": socket,
            "lists": fingerprint(self.answers),
            "salt": salt,
            "env": {k: None if v is None else _salted(salt, v) for k, v in rec.env.items()},
            "wholeEnv": _whole_env(salt) if rec.whole_env else None,
            "paths": rec.paths,
            "stdout": stdout,
        }
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w", encoding="utf-8") as handle:
                json.dump(memo, handle)
            os.replace(tmp, self.path)
        except OSError as exc:
            return f"cannot write {self.path}: {exc.strerror}"
        return None
