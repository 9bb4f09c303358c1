"""Moved tags in the planner (pure: no engine): a container whose tag now names another
image is replaced with that cause; digest pins, builds and unknown ids never are."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.plan.desired import DesiredApp, desired_app
from dockyard.plan.operations import Kind
from dockyard.plan.planner import changed_containers, plan_app
from dockyard.spec.load import load_text
from dockyard.state.observed import ObservedState, normalize_image_ref
from dockyard.state.refs import registry_of, split_ref
from plan_sim import simulate

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def running(image: str, policy: str = "IfNotPresent") -> tuple[DesiredApp, ObservedState]:
    text = f"""
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {{name: shop}}
spec:
  services:
    - {{name: web, image: "{image}", pullPolicy: {policy}, replicas: 2, restart: always}}
"""
    desired = desired_app(load_text(text, "app.yaml", Path("."), environ={}).apps[0], {})
    state = simulate(plan_app(desired, ObservedState()), ObservedState())
    # As the engine lists them: each container's image id, each tag's image id.
    observed = replace(
        state,
        containers=tuple(replace(c, image_id=OLD) for c in state.containers),
        image_ids={normalize_image_ref(image): OLD},
    )
    return desired, observed


def test_a_container_whose_tag_moved_is_replaced_with_that_cause() -> None:
    desired, observed = running("127.0.0.1:5000/shop/web:1")
    moved = replace(observed, image_ids={"127.0.0.1:5000/shop/web:1": NEW})

    plan = plan_app(desired, moved)

    removes = [op for op in plan.operations if op.kind is Kind.REMOVE_CONTAINER]
    assert sorted(op.target for op in removes) == ["shop-web-1", "shop-web-2"]
    assert removes[0].cause == (
        "image 127.0.0.1:5000/shop/web:1 moved to sha256:bbbbbbbbbbbb (was sha256:aaaaaaaaaaaa)"
    )
    # What a rollout replaces batch by batch sees the same.
    assert set(changed_containers(desired, moved)) == {"shop-web-1", "shop-web-2"}
    assert plan_app(desired, observed).empty


@pytest.mark.parametrize(
    "image",
    ["127.0.0.1:5000/shop/web@" + NEW, "127.0.0.1:5000/shop/web:1@" + NEW],
    ids=["repo@digest", "repo:tag@digest"],
)
def test_an_image_pinned_by_digest_never_moves(image: str) -> None:
    desired, observed = running(image)
    other = replace(observed, image_ids={"127.0.0.1:5000/shop/web:1": NEW})

    assert plan_app(desired, other).empty


def test_a_tag_the_engine_no_longer_has_is_not_a_move() -> None:
    desired, observed = running("shop/web:1")

    assert plan_app(desired, replace(observed, image_ids={})).empty


def test_references_are_read_as_docker_reads_them() -> None:
    assert registry_of("127.0.0.1:5000/shop/web:1") == "127.0.0.1:5000"
    assert registry_of("localhost/web") == "localhost"
    assert registry_of("shop/web:1") == registry_of("busybox") == "docker.io"
    assert registry_of("docker.io/library/busybox") == "docker.io"
    assert split_ref("127.0.0.1:5000/web") == ("127.0.0.1:5000/web", "latest")
    assert split_ref("127.0.0.1:5000/web:1@" + NEW) == ("127.0.0.1:5000/web", NEW)
    assert normalize_image_ref("r:5000/web:1@" + NEW) == normalize_image_ref("r:5000/web@" + NEW)
