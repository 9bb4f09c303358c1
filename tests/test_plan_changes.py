"""A replaced container's cause names the fields that changed, never two hashes alone,
and never a value that looks secret."""

from __future__ import annotations

from dataclasses import replace

from dockyard.plan.changes import config_changes, describe
from dockyard.state.desired import ContainerConfig, MountSpec

BASE = ContainerConfig(
    image="shop/web:1.4",
    command=("httpd", "-f"),
    entrypoint=None,
    env=(("LOG_LEVEL", "info"), ("DB_PASSWORD", "hunter2")),
    working_dir=None,
    user=None,
    hostname=None,
    labels=(("tier", "frontend"), ("dev.dockyard.app", "shop")),
    ports=(),
    mounts=(MountSpec("bind", "/etc/web", "/home/me/repo/conf", True, manifest_path="conf"),),
    networks=(),
    network_mode=None,
    healthcheck=None,
    restart="always",
    cpus=None,
    memory=None,
    memory_reservation=None,
    pids=None,
    stop_grace_period=None,
    stop_signal=None,
    init=None,
    cap_add=(),
    cap_drop=(),
    devices=(),
    read_only=False,
    privileged=False,
    inputs=(("secret:api-token", "0123456789abcdef"),),
)


def changes(**fields: object) -> list[str]:
    return config_changes(BASE.summary(), replace(BASE, **fields).summary())  # type: ignore[arg-type]


def test_env_and_image_changes_are_named_with_old_and_new_values():
    assert changes(env=(("LOG_LEVEL", "debug"), ("DB_PASSWORD", "hunter2"))) == [
        "env LOG_LEVEL: info -> debug"
    ]
    assert changes(image="shop/web:1.5") == ["image: shop/web:1.4 -> shop/web:1.5"]


def test_values_of_secret_looking_names_and_input_hashes_are_never_shown():
    out = changes(
        env=(("LOG_LEVEL", "info"), ("DB_PASSWORD", "hunter3"), ("API_TOKEN", "xyz")),
        inputs=(("secret:api-token", "fedcba9876543210"),),
    )
    assert out == [
        "env API_TOKEN added",
        "env DB_PASSWORD: changed",
        "secret api-token content changed",
    ]
    text = " ".join(out)
    assert "hunter" not in text and "xyz" not in text and "fedcba" not in text


def test_a_bind_from_the_manifest_folder_shows_its_relative_path():
    moved = (MountSpec("bind", "/etc/web", "/ci/build/repo/conf2", True, manifest_path="conf2"),)
    (line,) = changes(mounts=moved)
    assert line.startswith("mounts:") and "conf2" in line and "/ci/build" not in line


def test_dockyard_labels_are_not_reported_and_many_changes_are_counted():
    assert changes(labels=(("tier", "frontend"), ("dev.dockyard.app", "other"))) == []
    many = changes(image="a:2", command=("x",), restart="no", user="1", hostname="h", init=True)
    assert len(many) == 6
    assert describe(many).endswith("; and 2 more")


def test_a_container_made_before_the_label_existed_gives_no_field_changes():
    assert config_changes(None, BASE.summary()) == []
    assert config_changes("not json", BASE.summary()) == []
