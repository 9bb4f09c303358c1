"""The CLI as a person and a pipeline meet it: start-up, and the no-op `apply` vs Compose v2.

Run by hand (not part of pytest); see bench/README.md. In one run, medians:

  1. start-up: `python -c pass`, `dockyard --help`, `dockyard --version`, `dockyard version`,
     `dockyard validate -f` of 100 services, interleaved sample by sample;
  2. the import-time profile of `dockyard --help` here and at `--before REV` (a temporary
     git worktree of that commit, on the same interpreter);
  3. for each N in --sizes, one compose.yaml of N services: `dockyard apply -q -f` of it after
     it is applied (a no-op answered by the no-op memo, cli/noop_memo.py; and the same run in
     full with DOCKYARD_NO_MEMO=1), `dockyard diff` (memo), vs Compose v2's no-op `up -d` of
     an identical file (its Go binary, as bench/apply_bench.py runs it) and the raw engine's
     floor (a Python process making the four list calls on the socket), samples interleaved.

Everything it creates carries dev.dockyard.bench=1 and is removed at the end, even on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import yaml

import dockyard
from dockyard.cli.noop_memo import RACY_SECONDS, memo_path, path_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apply_bench import (
    COMMAND,
    IMAGE,
    LABELS,
    PREFIX,
    ROOT,
    RUN_ID,
    dockyard_cli,
    find_compose,
    log,
    run_cli,
    sweep,
)

PYTHON = sys.executable
NOOP = "dockyard apply -q -f compose.yaml (no-op, memo)"
NOOP_FULL = "dockyard apply -q -f compose.yaml (no-op, DOCKYARD_NO_MEMO=1: in full)"


def memo_written(files: list[str]) -> bool:
    """The memo of `dockyard apply -q -f FILES...` run from this folder (as run_cli runs)."""
    return Path(memo_path("apply", [path_text(f) for f in files], None)).is_file()


# The raw engine's floor for a no-op: a fresh Python process making the four list calls a
# no-op needs (containers with their labels, networks, volumes, images) on the unix socket
# with the standard library only, no SDK, no spec; what any Python CLI pays at least.
RAW_LISTS = """
import json, os, socket
path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
for url in ("/containers/json?all=1", "/networks", "/volumes", "/images/json"):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(f"GET {url} HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n".encode())
        data = b"".join(iter(lambda: s.recv(65536), b""))
    json.loads(data.partition(b"\\r\\n\\r\\n")[2])
"""


def compile_tree(package: Path) -> None:
    """Byte-compile the dockyard sources, as `pip install` leaves them: with
    PYTHONDONTWRITEBYTECODE set (as in these sessions) a source tree would otherwise be
    compiled anew by every process measured, 0.1-0.2 s that no installed dockyard pays."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(package)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def compose_file(name: str, n: int) -> str:
    """N services; `name:` is the project (Compose) and the App (dockyard)."""
    doc = {
        "name": name,
        "services": {
            f"s{i:03d}": {
                "image": IMAGE,
                "pull_policy": "never",
                "command": list(COMMAND),
                "init": True,
                "stop_grace_period": "1s",
                "restart": "unless-stopped",
                "labels": dict(LABELS),
            }
            for i in range(n)
        },
        "networks": {"default": {"labels": dict(LABELS)}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def med(values: list[float]) -> float:
    return statistics.median(values)


def interleaved(probes: dict[str, list[str]], samples: int) -> dict[str, list[float]]:
    """Each probe once per round, so load drifting during the run hits them all alike."""
    times: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(samples):
        for name, cmd in probes.items():
            times[name].append(run_cli(cmd))
    return times


def startup(workdir: Path, samples: int) -> dict[str, list[float]]:
    manifest = workdir / "validate-100.yaml"
    manifest.write_text(compose_file(f"{PREFIX}{RUN_ID}-validate", 100))
    cli = dockyard_cli()
    probes = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -c 'import typer'": [PYTHON, "-c", "import typer"],
        "dockyard --help": [cli, "--help"],
        "dockyard apply --help": [cli, "apply", "--help"],
        "dockyard --version": [cli, "--version"],
        "dockyard version": [cli, "version"],
        "dockyard validate -f (100 services)": [cli, "validate", "-f", str(manifest)],
    }
    return interleaved(probes, samples)


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_profile(pythonpath: str | None, top: int) -> tuple[float, list[tuple[str, float]]]:
    """(total ms of the imports of `dockyard --help`, the top-level packages costing most)."""
    env = {**os.environ}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    code = (
        "import sys; sys.argv=['dockyard','--help']\n"
        "try:\n    from dockyard.cli.startup import main\n"
        "except ImportError:\n    from dockyard.cli.main import main\n"
        "main()"
    )
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env
    )
    per_top: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m:  # self time, summed per top-level package: the parts add up to the total
            name = m.group(4).split(".")[0]
            per_top[name] = per_top.get(name, 0.0) + int(m.group(1)) / 1000
    total = sum(per_top.values())
    ranked = sorted(per_top.items(), key=lambda kv: -kv[1])[:top]
    return total, ranked


def before_tree(rev: str, workdir: Path) -> Path:
    path = workdir / "before"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), rev], check=True
    )
    return path


def noop_apply(n: int, workdir: Path, compose: str | None, samples: int) -> dict[str, list[float]]:
    d_file = workdir / f"dockyard-{n}" / "compose.yaml"
    c_file = workdir / f"compose-{n}" / "compose.yaml"
    d_name, c_name = f"{PREFIX}{RUN_ID}-d{n}", f"{PREFIX}{RUN_ID}-c{n}"
    for path, name in ((d_file, d_name), (c_file, c_name)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(compose_file(name, n))
    cli = dockyard_cli()
    up = [compose, "-p", c_name, "-f", str(c_file), "up", "-d"] if compose else None
    try:
        log(f"N={n}: applying both from scratch")
        apply = [cli, "apply", "-q", "-f", str(d_file)]
        run_cli(apply)
        if up:
            run_cli(up)
        # The memo (cli/noop_memo.py) keys on files once they are RACY_SECONDS old.
        time.sleep(max(0.0, d_file.stat().st_ctime + RACY_SECONDS + 0.1 - time.time()))
        run_cli(apply)  # the first no-op runs in full and writes the memo
        if not memo_written([str(d_file)]):
            raise RuntimeError("the first no-op apply wrote no memo")
        probes = {
            NOOP: apply,
            NOOP_FULL: ["env", "DOCKYARD_NO_MEMO=1", *apply],
            "dockyard diff -f compose.yaml (no-op, memo)": [cli, "diff", "-f", str(d_file)],
        }
        if up:
            probes["compose up -d (no-op)"] = up
        probes["raw engine: 4 list calls (python)"] = [PYTHON, "-c", RAW_LISTS]
        times = interleaved(probes, samples)
        log("  " + ", ".join(f"{k}: {med(v):.3f}s" for k, v in times.items()))
        return times
    finally:
        subprocess.run([cli, "delete", d_name], capture_output=True, check=False)
        if compose:
            subprocess.run(
                [compose, "-p", c_name, "-f", str(c_file), "down", "-t", "1"],
                capture_output=True,
                check=False,
            )


def markdown(result: dict[str, object]) -> str:
    lines = ["| start-up | median | over `python -c pass` |", "|---|---|---|"]
    start: dict[str, list[float]] = result["startup"]  # type: ignore[assignment]
    base = med(start["python -c pass"])
    for name, values in start.items():
        lines.append(f"| `{name}` | {med(values):.3f} s | +{med(values) - base:.3f} s |")
    lines += [
        "",
        "| import profile of `dockyard --help` | total | top packages (ms) |",
        "|---|---|---|",
    ]
    for label, (total, ranked) in result["imports"].items():  # type: ignore[attr-defined]
        tops = ", ".join(f"{k} {v:.0f}" for k, v in ranked)
        lines.append(f"| {label} | {total:.0f} ms | {tops} |")
    lines += [
        "",
        "| N | no-op apply (memo) | no-op apply (in full) | no-op diff (memo) "
        "| Compose v2 no-op up -d | memo / Compose | raw engine: 4 lists |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, times in result["noop"].items():  # type: ignore[attr-defined]
        d = med(times[NOOP])
        full = med(times[NOOP_FULL])
        diff = med(times["dockyard diff -f compose.yaml (no-op, memo)"])
        c = times.get("compose up -d (no-op)")
        cs = f"{med(c):.3f} s" if c else "-"
        ratio = f"{d / med(c):.2f}x" if c else "-"
        raw = times.get("raw engine: 4 list calls (python)")
        rs = f"{med(raw):.3f} s" if raw else "-"
        lines.append(f"| {n} | {d:.3f} s | {full:.3f} s | {diff:.3f} s | {cs} | {ratio} | {rs} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 200])
    parser.add_argument("--samples", type=int, default=7, help="samples per measurement")
    parser.add_argument("--before", metavar="REV", help="also profile imports at this commit")
    parser.add_argument("--top", type=int, default=6, help="packages shown per import profile")
    parser.add_argument("--no-compose", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    compose, compose_version = (None, "skipped") if args.no_compose else find_compose()
    log(f"compose: {compose_version}")
    api = docker.APIClient(version="auto")
    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
        "compose": compose_version,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with tempfile.TemporaryDirectory(prefix="cli-bench-") as tmp:
        workdir = Path(tmp)
        try:
            compile_tree(Path(dockyard.__file__).parent)  # the tree `dockyard` runs from
            log("start-up")
            result["startup"] = startup(workdir, args.samples)
            imports = {"now": import_profile(None, args.top)}
            if args.before:
                tree = before_tree(args.before, workdir)
                compile_tree(tree / "operator" / "dockyard")
                try:
                    imports[f"at {args.before}"] = import_profile(str(tree / "operator"), args.top)
                finally:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                        check=False,
                    )
            result["imports"] = imports
            result["noop"] = {n: noop_apply(n, workdir, compose, args.samples) for n in args.sizes}
        finally:
            sweep(api)
            api.close()
    result["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    print(f"\nload average before/after: {result['machine']['load']} / {result['load_after']}")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
