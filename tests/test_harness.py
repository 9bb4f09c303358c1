"""The harness itself: the engine answers and the local base image works."""

from __future__ import annotations

import time

import pytest
from docker import DockerClient

from helpers import BASE_IMAGE, BASE_INDEX_TEXT, TEST_LABELS, unique_name


def test_unique_name_is_dns_label() -> None:
    names = {unique_name("My_App.x") for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith("my-app-x-")
        assert len(name) <= 63
        assert all(ch.isdigit() or ch == "-" or "a" <= ch <= "z" for ch in name)


@pytest.mark.engine
def test_base_image_httpd_wget_round_trip(docker_client: DockerClient) -> None:
    container = docker_client.containers.run(
        BASE_IMAGE,
        ["httpd", "-f", "-p", "8080", "-h", "/www"],
        name=unique_name("harness"),
        labels=TEST_LABELS,
        network_mode="none",
        detach=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            code, output = container.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"])
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert code == 0, output
        assert BASE_INDEX_TEXT in output.decode()
    finally:
        container.remove(force=True, v=True)


@pytest.mark.engine
def test_base_image_users_and_applets(docker_client: DockerClient) -> None:
    script = (
        "for a in sh httpd wget nc sleep; do command -v $a >/dev/null || exit 1; done; "
        "id -u app; id -u nobody; stat -c %a /tmp"
    )
    output = docker_client.containers.run(
        BASE_IMAGE, ["sh", "-c", script], labels=TEST_LABELS, network_mode="none", remove=True
    )
    assert output.decode().split() == ["1000", "65534", "1777"]
