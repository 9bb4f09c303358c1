"""A pull shows one line that moves: layers done and megabytes arrived, from Docker's
own per-layer stream, recorded from a real pull and replayed; then a real pull from
the registry on 127.0.0.1 reports it through `Engine.pull`."""

from __future__ import annotations

import io

import pytest
from docker import DockerClient
from rich.console import Console

from dockyard.cli.output import ConsoleReporter
from dockyard.engine.client import Engine
from dockyard.engine.pull_progress import PullProgress
from dockyard.plan.operations import Kind, Operation
from registry_fixtures import Registry, push

# The shape of a real `POST /images/create` stream (two layers, one already present).
MB = 1_000_000
STREAM = [
    {"status": "Pulling from library/app", "id": "1"},
    {"status": "Already exists", "id": "aaa"},
    {"status": "Pulling fs layer", "id": "bbb"},
    {
        "status": "Downloading",
        "id": "bbb",
        "progressDetail": {"current": MB, "total": 4 * MB},
    },
    {
        "status": "Downloading",
        "id": "bbb",
        "progressDetail": {"current": 3 * MB, "total": 4 * MB},
    },
    {"status": "Verifying Checksum", "id": "bbb"},
    {"status": "Download complete", "id": "bbb"},
    {
        "status": "Extracting",
        "id": "bbb",
        "progressDetail": {"current": 2 * MB, "total": 4 * MB},
    },
    {"status": "Pull complete", "id": "bbb"},
    {"status": "Digest: sha256:0123"},
    {"status": "Status: Downloaded newer image for app:1"},
]


def test_layers_and_megabytes_add_up_as_the_pull_goes() -> None:
    seen = PullProgress()
    shown = [seen.feed(event) or "" for event in STREAM]
    lines = [text.splitlines()[0] for text in shown]
    assert lines[1] == "1/1 layers"
    assert lines[3] == "1/2 layers, 1.0/4.0 MB"
    assert lines[4] == "1/2 layers, 3.0/4.0 MB"
    assert lines[6] == "1/2 layers, 4.0/4.0 MB"  # downloaded; extracting next
    assert lines[8] == "2/2 layers, 4.0/4.0 MB"
    assert lines[-1] == "Status: Downloaded newer image for app:1"


def test_each_layer_under_way_has_its_own_bar() -> None:
    seen = PullProgress()
    shown = [seen.feed(event) or "" for event in STREAM]
    # The layer already there has no bar; the one downloading has, filled as it goes.
    assert shown[1].splitlines() == ["1/1 layers"]
    assert shown[4].splitlines()[1:] == [
        "bbb           Downloading ━━━━━━━━━━━━━━━╺──── 3.0/4.0 MB"
    ]
    assert shown[7].splitlines()[1:] == [
        "bbb           Extracting  ━━━━━━━━━━╺───────── 2.0/4.0 MB"
    ]
    assert shown[8].splitlines() == ["2/2 layers, 4.0/4.0 MB"]  # done: its bar goes


@pytest.mark.engine
def test_a_real_pull_reports_its_layers(
    docker_client: DockerClient, registry: Registry, app_name: str
) -> None:
    push(docker_client, registry, app_name, "1", "v1")
    ref = f"{registry.host}/{app_name}:1"
    said: list[str] = []
    engine = Engine()
    try:
        engine.pull(ref, said.append)
    finally:
        engine.close()
        docker_client.images.remove(ref, force=True)
    layers = [line for line in said if " layers" in line]
    assert layers, said
    done = layers[-1].partition(" layers")[0]
    finished, total = (int(n) for n in done.split("/"))
    assert finished == total >= 1, said


def test_a_terminal_shows_the_layer_bars_under_the_pull_and_a_pipe_none() -> None:
    """What `dockyard apply` draws while it pulls: the pull's line, a bar per layer under
    way below it; when the output is not a terminal, nothing that moves."""
    pull = Operation("pull-image:app:1", Kind.PULL_IMAGE, "app:1", "image not present", "shop")
    for terminal in (True, False):
        seen = PullProgress()
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=100)
        reporter = ConsoleReporter(console)
        with reporter:
            reporter.started(pull)
            for event in STREAM[:5]:
                reporter.progress(pull, seen.feed(event) or "")
            if terminal:
                console.print(reporter._bar.get_renderable())  # the live view, drawn now
        text = out.getvalue()
        if terminal:
            assert "pull image app:1" in text and "1/2 layers, 3.0/4.0 MB" in text, text
            assert "bbb           Downloading ━━━━━━━━━━━━━━━╺──── 3.0/4.0 MB" in text, text
        else:
            assert text == "  … pull image app:1\n", text
