"""The no-op memo (cli/noop_memo.py): a second no-op `apply` or `diff` answers without
loading the spec, and anything it would have read differently — the Compose file, `.env`,
an env file, a secret file, a variable of the environment, a container, an image — makes
the command run in full and apply it. Real CLI processes against the real engine."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
from docker import DockerClient

from dockyard.cli.input_record import Recorder, paths_unchanged
from dockyard.cli.noop_memo import RACY_SECONDS, memo_path, parse, path_text
from helpers import APP_LABEL, BASE_IMAGE, TEST_LABEL

# The real entry point; prints at exit whether the spec's models were loaded: they are
# not when the memo answered. (`python -c` would put the current folder on sys.path, and
# the memo would then be spent by any file written there: the test would prove nothing.)
PROBE = """
import atexit, sys
sys.path[:] = [p for p in sys.path if p]  # as the `dockyard` script: the folder is not on it
atexit.register(lambda: sys.__stderr__.write(
    "MEMO-ANSWERED\\n" if "dockyard.spec.models" not in sys.modules else "FULL-RUN\\n"))
from dockyard.cli.startup import main
sys.argv = ["dockyard", *sys.argv[1:]]
main()
"""


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.answered = "MEMO-ANSWERED" in proc.stderr


def dockyard(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    return Run(proc)


def compose(name: str, environment: str = "", extra: str = "") -> str:
    return f"""\
name: {name}
services:
  web:
    image: {BASE_IMAGE}
    pull_policy: never
    command: ["sleep", "3600"]
    init: true
    restart: unless-stopped
    stop_grace_period: 1s
    labels: {{{TEST_LABEL}: "1"}}
{environment}{extra}networks:
  default:
    labels: {{{TEST_LABEL}: "1"}}
"""


def past_racy_window(folder: Path) -> None:
    """The memo keys on files' sizes and times only once they are RACY_SECONDS old (a
    second write in the same clock tick could leave both as they were): wait for the
    newest file here to be that old."""
    newest = max(p.stat().st_ctime for p in [folder, *folder.rglob("*")])
    time.sleep(max(0.0, newest + RACY_SECONDS + 0.05 - time.time()))


def memo_of(folder: Path, *args: str) -> Path:
    parsed = parse(list(args))
    assert parsed is not None
    here = os.getcwd()
    os.chdir(folder)
    try:
        return Path(memo_path(*parsed))
    finally:
        os.chdir(here)


def remembered(folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Run in full until nothing is left to do and a memo is written (a run writes one
    once its inputs are older than RACY_SECONDS)."""
    first = dockyard(folder, *args, env=env)
    assert first.code == 0, first.err
    past_racy_window(folder)
    if not memo_of(folder, *args).is_file():
        second = dockyard(folder, *args, env=env)
        assert second.code == 0 and "up to date" in second.out, second.out + second.err
        assert not second.answered
    assert memo_of(folder, *args).is_file(), "the no-op run wrote no memo"


def containers(client: DockerClient, app: str) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"{APP_LABEL}={app}"})


def env_of(client: DockerClient, app: str) -> list[str]:
    (c,) = containers(client, app)
    return client.api.inspect_container(c["Id"])["Config"]["Env"]


APPLY = ("apply", "-q", "-f", "compose.yaml")


def test_a_second_no_op_apply_and_diff_answer_from_the_memo(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    (tmp_path / "compose.yaml").write_text(compose(app_name))
    remembered(tmp_path, *APPLY)
    full = dockyard(tmp_path, *APPLY, env={"DOCKYARD_NO_MEMO": "1"})
    assert full.code == 0 and not full.answered, full.err
    again = dockyard(tmp_path, *APPLY)
    assert again.code == 0 and again.answered, again.err
    assert again.out == full.out == f"{app_name}: up to date, nothing to do\n"

    remembered(tmp_path, "diff", "-f", "compose.yaml")
    diff = dockyard(tmp_path, "diff", "-f", "compose.yaml")
    assert diff.code == 0 and diff.answered
    assert diff.out == f"app {app_name}: up to date\n"

    json_out = dockyard(tmp_path, "apply", "-o", "json", "-f", "compose.yaml")
    assert json_out.code == 0 and not json_out.answered
    assert json.loads(json_out.out)["changed"] is False


def test_each_input_changed_after_the_memo_is_applied(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    environment = (
        "    env_file: [app.env]\n"
        "    environment:\n"
        "      FROM_DOTENV: ${FROM_DOTENV:-none}\n"
        "      FROM_PROCESS: ${FROM_PROCESS:-none}\n"
    )
    (tmp_path / "app.env").write_text("FROM_ENV_FILE=one\n")
    (tmp_path / "compose.yaml").write_text(compose(app_name, environment))
    remembered(tmp_path, *APPLY)
    assert "FROM_DOTENV=none" in env_of(docker_client, app_name)

    # A .env that was not there when the memo was made.
    (tmp_path / ".env").write_text("FROM_DOTENV=two\n")
    run = dockyard(tmp_path, *APPLY)
    assert run.code == 0 and not run.answered, run.err
    assert "FROM_DOTENV=two" in env_of(docker_client, app_name)

    # The env file's content.
    remembered(tmp_path, *APPLY)
    (tmp_path / "app.env").write_text("FROM_ENV_FILE=three\n")
    assert not dockyard(tmp_path, *APPLY).answered
    assert "FROM_ENV_FILE=three" in env_of(docker_client, app_name)

    # A variable of the process environment, set where it was unset.
    remembered(tmp_path, *APPLY)
    assert not dockyard(tmp_path, *APPLY, env={"FROM_PROCESS": "four"}).answered
    assert "FROM_PROCESS=four" in env_of(docker_client, app_name)
    remembered(tmp_path, *APPLY, env={"FROM_PROCESS": "four"})
    assert dockyard(tmp_path, *APPLY, env={"FROM_PROCESS": "four"}).answered
    assert not dockyard(tmp_path, *APPLY, env={"FROM_PROCESS": "five"}).answered
    assert "FROM_PROCESS=five" in env_of(docker_client, app_name)

    # The Compose file itself, rewritten with the same size.
    remembered(tmp_path, *APPLY, env={"FROM_PROCESS": "five"})
    text = (tmp_path / "compose.yaml").read_text()
    (tmp_path / "compose.yaml").write_text(text.replace('"3600"', '"3601"'))
    run = dockyard(tmp_path, *APPLY, env={"FROM_PROCESS": "five"})
    assert run.code == 0 and not run.answered
    (c,) = containers(docker_client, app_name)
    assert docker_client.api.inspect_container(c["Id"])["Config"]["Cmd"][-1] == "3601"


def test_a_secret_files_new_content_replaces_the_container(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    extra = "    secrets: [token]\nsecrets:\n  token:\n    file: ./token.txt\n"
    (tmp_path / "token.txt").write_text("first")
    (tmp_path / "compose.yaml").write_text(compose(app_name, extra=extra))
    remembered(tmp_path, *APPLY)
    (before,) = containers(docker_client, app_name)
    (tmp_path / "token.txt").write_text("other")  # same size
    run = dockyard(tmp_path, *APPLY)
    assert run.code == 0 and not run.answered, run.err
    (after,) = containers(docker_client, app_name)
    assert after["Id"] != before["Id"]
    assert "other" not in run.out + run.err


def test_what_changed_on_the_engine_is_put_right(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    (tmp_path / "compose.yaml").write_text(compose(app_name))
    remembered(tmp_path, *APPLY)
    (c,) = containers(docker_client, app_name)

    docker_client.api.stop(c["Id"], timeout=1)
    run = dockyard(tmp_path, *APPLY)
    assert run.code == 0 and not run.answered, run.err
    assert [x["State"] for x in containers(docker_client, app_name)] == ["running"]

    remembered(tmp_path, *APPLY)
    docker_client.api.remove_container(c["Id"], force=True)
    assert not dockyard(tmp_path, *APPLY).answered
    assert [x["State"] for x in containers(docker_client, app_name)] == ["running"]


def test_a_tag_moved_to_another_image_replaces_the_container(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    tag = f"dockyard.local/memo-{app_name}:latest"
    docker_client.images.get(BASE_IMAGE).tag(tag)
    try:
        (tmp_path / "compose.yaml").write_text(compose(app_name).replace(BASE_IMAGE, tag))
        remembered(tmp_path, *APPLY)
        (old,) = containers(docker_client, app_name)
        dockerfile = f"FROM {BASE_IMAGE}\nLABEL {TEST_LABEL}=1 dev.dockyard.memo={app_name}\n"
        docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
        run = dockyard(tmp_path, *APPLY)
        assert run.code == 0 and not run.answered, run.err
        (new,) = containers(docker_client, app_name)
        assert new["Id"] != old["Id"]
        assert new["ImageID"] == docker_client.images.get(tag).id
    finally:
        for x in containers(docker_client, app_name):
            docker_client.api.remove_container(x["Id"], force=True)
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag, force=True)


def test_no_memo_when_the_run_printed_a_warning(
    docker_client: DockerClient, app_name: str, tmp_path: Path
) -> None:
    extra = "    deploy:\n      placement:\n        constraints: [node.role==manager]\n"
    (tmp_path / "compose.yaml").write_text(compose(app_name, extra=extra))
    first = dockyard(tmp_path, *APPLY)
    assert first.code == 0, first.err
    past_racy_window(tmp_path)
    second = dockyard(tmp_path, *APPLY)
    assert "warning" in second.err and "up to date" in second.out
    assert not memo_of(tmp_path, *APPLY).exists()
    assert not dockyard(tmp_path, *APPLY).answered


# -- the parts, in this process -------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["a.yaml", "./a.yaml", "dir/", "dir//x.yml", "/abs/./x", "//net/x", "///x", ".", "a/../b"],
)
def test_a_path_is_keyed_as_typer_hands_it_over(raw: str) -> None:
    assert path_text(raw) == path_text(str(Path(raw)))
    assert path_text(raw) == str(Path(raw))


def test_only_the_plain_forms_of_apply_and_diff_are_answered() -> None:
    assert parse(["apply", "-q", "-f", "a.yaml", "--filename=./b", "-j", "4"]) == (
        "apply",
        ["a.yaml", "b"],
        None,
    )
    assert parse(["diff", "-H", "unix:///x.sock", "-f", "d"]) == ("diff", ["d"], "unix:///x.sock")
    for refused in (
        ["apply", "-f", "-"],
        ["apply", "-f", "a", "--wait"],
        ["apply", "-f", "a", "-o", "json"],
        ["apply", "-f", "a", "-j", "0"],
        ["apply", "-f", "a", "--policy", "p.yaml"],
        ["apply", "-q"],
        ["diff", "-f", "a", "-q"],
        ["delete", "-f", "a"],
        ["apply", "-f"],
    ):
        assert parse(refused) is None, refused


def test_the_recorder_sees_what_is_read_looked_at_listed_and_asked(tmp_path: Path) -> None:
    (tmp_path / "read.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    os.environ["DOCKYARD_MEMO_TEST_SET"] = "1"
    try:
        with Recorder() as rec:
            (tmp_path / "read.txt").read_text()
            assert not (tmp_path / "absent.txt").is_file()
            os.path.exists(tmp_path / "sub")
            list((tmp_path / "sub").iterdir())
            os.environ.get("DOCKYARD_MEMO_TEST_SET")
            os.environ.get("DOCKYARD_MEMO_TEST_UNSET")
    finally:
        del os.environ["DOCKYARD_MEMO_TEST_SET"]
    assert isinstance(os.environ, os._Environ)  # put back
    names = {key.replace("\0", " ") for key in rec.paths}
    assert f"{tmp_path}/read.txt read" in names
    assert f"{tmp_path}/absent.txt stat" in names
    assert f"{tmp_path}/sub listed" in names
    assert rec.env == {"DOCKYARD_MEMO_TEST_SET": "1", "DOCKYARD_MEMO_TEST_UNSET": None}
    assert not rec.whole_env and not rec.spoiled
    assert paths_unchanged(rec.paths)
    (tmp_path / "absent.txt").write_text("now here")
    assert not paths_unchanged(rec.paths)
    (tmp_path / "absent.txt").unlink()
    (tmp_path / "sub" / "new").write_text("")
    assert not paths_unchanged(rec.paths)


def test_a_program_run_or_a_walk_over_the_environment_is_seen() -> None:
    with Recorder() as rec:
        subprocess.run(["true"], check=True)
        dict(os.environ)
    assert rec.spoiled == ["ran a program"]
    assert rec.whole_env
