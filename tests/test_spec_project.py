"""`spec.project`: the prefix of an app's engine names (a Compose project such as `my_stack`,
which an app name cannot be), validated as Compose validates it (pure: no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.controller.triggers import apps_changed, interesting
from dockyard.plan.desired import desired_app
from dockyard.plan.planner import plan_app, plan_delete
from dockyard.spec.compose import import_compose
from dockyard.spec.errors import SpecError
from dockyard.spec.load import load_paths, load_text
from dockyard.state.observed import ObservedContainer, ObservedState, ObservedVolume

MANIFEST = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata: {{name: shop}}
spec:
  {project}
  services:
    - name: web
      image: busybox
      volumeMounts: [{{volume: data, mountPath: /data}}]
    - name: worker
      image: busybox
      networks: [{{name: back_end}}]
  volumes: [{{name: data}}]
  networks: [{{name: back_end}}]
"""


def load(tmp_path: Path, project: str) -> object:
    text = MANIFEST.format(project=f"project: {project!r}" if project else "")
    return load_text(text, "app.yaml", tmp_path, environ={}).apps[0]


def test_engine_names_use_the_project_and_labels_the_app(tmp_path: Path) -> None:
    desired = desired_app(load(tmp_path, "shop_v1"), {})  # type: ignore[arg-type]
    assert sorted(c.name for c in desired.containers) == ["shop_v1-web-1", "shop_v1-worker-1"]
    assert sorted(n.name for n in desired.networks) == ["shop_v1_back_end", "shop_v1_default"]
    assert [v.name for v in desired.volumes] == ["shop_v1_data"]
    web = next(c for c in desired.containers if c.service == "web")
    labels = dict(web.config.labels)
    assert labels["dev.dockyard.app"] == "shop"
    assert labels["dev.dockyard.project"] == "shop_v1"
    assert [m.source for m in web.config.mounts] == ["shop_v1_data"]


def test_default_project_is_the_app_name_and_adds_no_label(tmp_path: Path) -> None:
    desired = desired_app(load(tmp_path, ""), {})  # type: ignore[arg-type]
    assert sorted(c.name for c in desired.containers) == ["shop-web-1", "shop-worker-1"]
    for c in desired.containers:
        assert "dev.dockyard.project" not in dict(c.config.labels)


@pytest.mark.parametrize("bad", ["My_Stack", "_stack", "-stack", "my.stack", "a" * 64, ""])
def test_a_project_compose_refuses_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SpecError) as err:
        load(tmp_path, bad) if bad else load_text(
            MANIFEST.format(project="project: ''"), "app.yaml", tmp_path, environ={}
        )
    text = err.value.render()
    assert "spec.project" in text
    assert "Compose project name" in text


def test_two_apps_with_one_project_are_refused(tmp_path: Path) -> None:
    one = MANIFEST.format(project="project: shared_one")
    other = one.replace("name: shop", "name: blog")
    (tmp_path / "apps.yaml").write_text(one + "---\n" + other)
    with pytest.raises(SpecError) as err:
        load_paths([tmp_path / "apps.yaml"], environ={})
    assert "apps 'shop' and 'blog' would both name" in err.value.render()


@pytest.mark.parametrize("how", ["name", "folder"])
def test_import_maps_my_stack_to_app_my_stack_with_its_project(tmp_path: Path, how: str) -> None:
    folder = tmp_path / ("my_stack" if how == "folder" else "x")
    folder.mkdir()
    file = folder / "compose.yaml"
    head = "name: my_stack\n" if how == "name" else ""
    file.write_text(
        head + "services:\n  db: {image: x, volumes: [db_data:/d]}\nvolumes: {db_data: {}}\n"
    )
    imported = import_compose([file], environ={})
    assert imported.name == "my-stack"
    assert imported.app["spec"]["project"] == "my_stack"
    notes = " ".join(n.render() for n in imported.notes)
    assert "becomes app name 'my-stack'" in notes and "spec.project 'my_stack'" in notes
    loaded = load_text(imported.to_yaml(), "app.yaml", folder, environ={}).apps[0]
    desired = desired_app(loaded, {})
    assert [c.name for c in desired.containers] == ["my_stack-db-1"]
    assert [v.name for v in desired.volumes] == ["my_stack_db_data"]


def test_import_of_a_label_project_sets_no_project(tmp_path: Path) -> None:
    file = tmp_path / "compose.yaml"
    file.write_text("name: shop\nservices:\n  web: {image: x}\n")
    assert "project" not in import_compose([file], environ={}).app["spec"]


def compose_state(project: str) -> ObservedState:
    compose = {"com.docker.compose.project": project, "com.docker.compose.service": "web"}
    return ObservedState(
        containers=(
            ObservedContainer(id="c1", name=f"{project}-web-1", state="running", labels=compose),
        ),
        volumes=(ObservedVolume(f"{project}_data", {"com.docker.compose.project": project}),),
    )


def test_plan_takes_over_the_compose_project_of_spec_project(tmp_path: Path) -> None:
    desired = desired_app(load(tmp_path, "shop_v1"), {})  # type: ignore[arg-type]
    plan = plan_app(desired, compose_state("shop_v1"))
    assert plan.errors == ()
    causes = [op.cause for op in plan.operations if op.target == "shop_v1-web-1"]
    assert any("take over Compose's container (project shop_v1" in c for c in causes)
    assert any("adopts Compose's volume shop_v1_data (project shop_v1)" in c for c in causes)


def test_plan_refuses_another_project_and_names_the_field(tmp_path: Path) -> None:
    desired = desired_app(load(tmp_path, ""), {})  # type: ignore[arg-type]
    state = compose_state("shop_v1")
    state = ObservedState(
        containers=(ObservedContainer("c1", "shop-web-1", "running", state.containers[0].labels),),
        volumes=(ObservedVolume("shop_data", {"com.docker.compose.project": "shop_v1"}),),
    )
    errors = " ".join(plan_app(desired, state).errors)
    assert "belongs to Compose project shop_v1, not shop" in errors
    assert "set spec.project: shop_v1" in errors


def test_delete_by_name_finds_the_adopted_volume_through_the_project_label() -> None:
    mine = {"dev.dockyard.managed-by": "dockyard", "dev.dockyard.app": "my-stack"}
    state = ObservedState(
        containers=(
            ObservedContainer(
                "c1", "my_stack-db-1", "exited", {**mine, "dev.dockyard.project": "my_stack"}
            ),
        ),
        volumes=(ObservedVolume("my_stack_db_data", {"com.docker.compose.project": "my_stack"}),),
    )
    targets = [op.target for op in plan_delete("my-stack", state, volumes=True).operations]
    assert targets == ["my_stack-db-1", "my_stack_db_data"]
    kept = [op.target for op in plan_delete("my-stack", state).operations]
    assert kept == ["my_stack-db-1"]


def test_unlabelled_objects_of_the_project_concern_the_app() -> None:
    known = {"my-stack": "my_stack", "shop": "shop"}
    assert interesting({"Actor": {"Attributes": {"name": "my_stack-db-1"}}}, known)
    assert not interesting({"Actor": {"Attributes": {"name": "my-stack-db-1"}}}, known)
    assert apps_changed({"?my_stack_db_data", "?shop-web-1"}, known) in (
        ["my-stack", "shop"],
        ["shop", "my-stack"],
    )


def test_the_controller_keeps_one_app_per_project(tmp_path: Path) -> None:
    from dockyard.controller.intake import Wanted, claim

    one = MANIFEST.format(project="project: shared_one")
    shop = load_text(one, "a.yaml", tmp_path, environ={}).apps[0]
    blog = load_text(one.replace("name: shop", "name: blog"), "b.yaml", tmp_path, environ={})
    assert list(claim([shop, blog.apps[0]], {}, "git")) == ["shop"]
    held = {"shop": Wanted(shop, desired_app(shop, {}), "k8s", "1")}
    assert claim([blog.apps[0]], held, "git") == {}
