"""crds/ is generated from the pydantic models; this fails when it is stale."""

from __future__ import annotations

from dockyard.spec.crd import CRD_FILES, app_crd, render
from helpers import REPO_ROOT


def test_crds_folder_matches_the_models() -> None:
    folder = REPO_ROOT / "crds"
    for filename, make in CRD_FILES.items():
        path = folder / filename
        assert path.is_file(), f"{path} is missing: run `dockyard crds -o crds`"
        assert path.read_text() == render(make()), (
            f"{path} is stale: the models changed; run `.venv/bin/dockyard crds -o crds`"
        )


def test_every_model_field_is_in_the_schema() -> None:
    """Each spec field reaches the schema under its manifest name (camelCase)."""
    schema = app_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    service = schema["properties"]["spec"]["properties"]["services"]["items"]
    assert service["required"] == ["name"]
    props = service["properties"]
    assert props["replicas"] == {"type": "integer", "minimum": 0}
    assert props["pullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never"]
    assert props["stopGracePeriod"] == {"x-kubernetes-int-or-string": True}  # "10s" or 10
    assert props["ports"]["items"]["properties"]["hostIP"] == {"type": "string"}
    assert props["healthcheck"]["properties"]["test"] == {
        "x-kubernetes-preserve-unknown-fields": True
    }
