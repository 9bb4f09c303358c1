"""Invalid manifests are rejected with the field path and a hint, never a traceback.

Each case is a small manifest (plus the files it refers to), loaded the way
`dockyard apply -f` loads it. The loader must raise one SpecError naming the
field and saying what is wrong; nothing is returned and Docker is never involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.spec.errors import SpecError
from dockyard.spec.load import load_paths

HEAD = """\
apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: shop
spec:
"""


@dataclass(frozen=True)
class Case:
    id: str
    manifest: str
    path: str
    fragment: str
    files: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    # The name of the manifest file (`@folder` loads the whole folder instead).
    target: str = "app.yaml"


def app(body: str) -> str:
    """An App named `shop` whose spec is `body` (indented by two spaces)."""
    return HEAD + body


CASES = [
    # --- unknown fields -------------------------------------------------------------
    Case(
        "unknown-top-level-field",
        app("  services: [{name: web, image: busybox}]\n") + "labels: {team: web}\n",
        "labels",
        "unknown field",
    ),
    Case(
        "unknown-service-field",
        app("  services:\n    - {name: web, image: busybox, replica: 2}\n"),
        "spec.services[web].replica",
        "did you mean replicas?",
    ),
    Case(
        "unknown-nested-field",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      healthcheck: {test: [CMD, 'true'], intervall: 5s}\n"
        ),
        "spec.services[web].healthcheck.intervall",
        "unknown field",
    ),
    Case(
        "snake-case-field",
        app("  services:\n    - {name: web, image: busybox, pull_policy: Never}\n"),
        "spec.services[web].pull_policy",
        "did you mean pullPolicy?",
    ),
    # --- types, units, ranges -------------------------------------------------------
    Case(
        "wrong-type-replicas",
        app("  services:\n    - {name: web, image: busybox, replicas: many}\n"),
        "spec.services[web].replicas",
        "valid integer",
    ),
    Case(
        "wrong-type-env-mapping",
        app("  services:\n    - {name: web, image: busybox, env: {A: b}}\n"),
        "spec.services[web].env",
        "write a YAML list",
    ),
    Case(
        "unquoted-number-for-string",
        app("  services:\n    - name: web\n      image: busybox\n      labels: {version: 1.4}\n"),
        "spec.services[web].labels.version",
        "quote it",
    ),
    Case(
        "bad-duration",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      healthcheck: {test: [CMD, 'true'], interval: 10 seconds}\n"
        ),
        "spec.services[web].healthcheck.interval",
        "is not a duration",
    ),
    Case(
        "bad-stop-grace-period",
        app("  services:\n    - {name: web, image: busybox, stopGracePeriod: 1x}\n"),
        "spec.services[web].stopGracePeriod",
        "'10s', '1m30s'",
    ),
    Case(
        "bad-size",
        app("  services:\n    - {name: web, image: busybox, resources: {memory: lots}}\n"),
        "spec.services[web].resources.memory",
        "is not a size",
    ),
    Case(
        "bad-tmpfs-size",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts: [{tmpfs: {size: 64Zi}, mountPath: /tmp}]\n"
        ),
        "spec.services[web].volumeMounts[/tmp].tmpfs.size",
        "is not a size",
    ),
    Case(
        "negative-replicas",
        app("  services:\n    - {name: web, image: busybox, replicas: -1}\n"),
        "spec.services[web].replicas",
        "greater than or equal to 0 (hint: got -1)",
    ),
    Case(
        "port-out-of-range",
        app("  services:\n    - {name: web, image: busybox, ports: [{target: 70000}]}\n"),
        "spec.services[web].ports[70000].target",
        "less than or equal to 65535",
    ),
    Case(
        "bad-file-mode",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      secrets: [{name: tok, mode: '0999'}]\n"
            "  secrets: [{name: tok, file: tok.txt}]\n"
        ),
        "spec.services[web].secrets[tok].mode",
        "octal file mode",
        files={"tok.txt": "s3cret"},
    ),
    Case(
        "file-mode-too-large",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      secrets: [{name: tok, mode: 0o77777}]\n"
            "  secrets: [{name: tok, file: tok.txt}]\n"
        ),
        "spec.services[web].secrets[tok].mode",
        "file mode 0o77777 is out of range",
        files={"tok.txt": "s3cret"},
    ),
    Case(
        "invalid-restart-policy",
        app("  services:\n    - {name: web, image: busybox, restart: sometimes}\n"),
        "spec.services[web].restart",
        "is not a restart policy",
    ),
    Case(
        "invalid-pull-policy",
        app("  services:\n    - {name: web, image: busybox, pullPolicy: always}\n"),
        "spec.services[web].pullPolicy",
        "'Always'",
    ),
    Case(
        "bad-healthcheck-test-form",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      healthcheck: {test: [wget, -q, 'http://127.0.0.1/']}\n"
        ),
        "spec.services[web].healthcheck.test",
        "must start with CMD, CMD-SHELL or NONE",
    ),
    Case(
        "healthcheck-cmd-without-command",
        app(
            "  services:\n    - name: web\n      image: busybox\n      healthcheck: {test: [CMD]}\n"
        ),
        "spec.services[web].healthcheck.test",
        "needs a command",
    ),
    # --- names ----------------------------------------------------------------------
    Case(
        # Compose-style names (`web_1`, `Web`, `web.app`) are valid; these are not.
        "service-name-leading-dash",
        app("  services:\n    - {name: -web, image: busybox}\n"),
        "spec.services[-web].name",
        "is not a valid name",
    ),
    Case(
        "service-name-space",
        app("  services:\n    - {name: 'web 1', image: busybox}\n"),
        "spec.services[web 1].name",
        "letters, digits, '_', '.' and '-'",
    ),
    Case(
        "app-name-invalid",
        HEAD.replace("name: shop", "name: My.Shop") + "  services: []\n",
        "metadata.name",
        "DNS-1123",
    ),
    Case(
        "duplicate-service-names",
        app("  services:\n    - {name: web, image: busybox}\n    - {name: web, image: nginx}\n"),
        "spec.services[web]",
        "duplicate service name 'web'",
    ),
    Case(
        "duplicate-volume-names",
        app("  services: []\n  volumes: [{name: data}, {name: data}]\n"),
        "spec.volumes[data]",
        "duplicate volume name",
    ),
    # --- service shape --------------------------------------------------------------
    Case(
        "neither-image-nor-build",
        app("  services:\n    - {name: web, command: [sh]}\n"),
        "spec.services[web]",
        "set image, build, or both",
    ),
    Case(
        "networks-with-network-mode",
        app(
            "  services:\n"
            "    - {name: web, image: busybox, networkMode: host, networks: [{name: back}]}\n"
            "  networks: [{name: back}]\n"
        ),
        "spec.services[web]",
        "either networks or networkMode",
    ),
    Case(
        "ports-with-host-network",
        app(
            "  services:\n"
            "    - {name: web, image: busybox, networkMode: host, ports: [{target: 80}]}\n"
        ),
        "spec.services[web].ports",
        "networkMode host",
    ),
    Case(
        "unknown-network-mode",
        app("  services:\n    - {name: web, image: busybox, networkMode: overlay}\n"),
        "spec.services[web].networkMode",
        "'host'",
    ),
    Case(
        "mount-volume-and-host-path",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts: [{volume: data, hostPath: ./data, mountPath: /data}]\n"
            "  volumes: [{name: data}]\n"
        ),
        "spec.services[web].volumeMounts[/data]",
        "only one of volume, hostPath and tmpfs",
    ),
    Case(
        "relative-mount-path",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts: [{tmpfs: {}, mountPath: tmp}]\n"
        ),
        "spec.services[web].volumeMounts[tmp].mountPath",
        "must be an absolute path",
    ),
    Case(
        "duplicate-mount-path",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts:\n"
            "        - {volume: data, mountPath: /data}\n"
            "        - {tmpfs: {}, mountPath: /data}\n"
            "  volumes: [{name: data}]\n"
        ),
        "spec.services[web].volumeMounts[/data]",
        "two mounts at /data",
    ),
    Case(
        "secret-mounted-over-volume",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts: [{tmpfs: {}, mountPath: /run/secrets/tok}]\n"
            "      secrets: [{name: tok}]\n"
            "  secrets: [{name: tok, file: tok.txt}]\n"
        ),
        "spec.services[web].volumeMounts[/run/secrets/tok]",
        "two mounts",
        files={"tok.txt": "s3cret"},
    ),
    # --- references -----------------------------------------------------------------
    Case(
        "depends-on-missing-service",
        app("  services:\n    - {name: web, image: busybox, dependsOn: [{service: db}]}\n"),
        "spec.services[web].dependsOn[db]",
        "no service named 'db'",
    ),
    Case(
        "depends-on-self",
        app("  services:\n    - {name: web, image: busybox, dependsOn: [{service: web}]}\n"),
        "spec.services[web].dependsOn[web]",
        "cannot depend on itself",
    ),
    Case(
        "depends-on-cycle",
        app(
            "  services:\n"
            "    - {name: a, image: busybox, dependsOn: [{service: b}]}\n"
            "    - {name: b, image: busybox, dependsOn: [{service: c}]}\n"
            "    - {name: c, image: busybox, dependsOn: [{service: a}]}\n"
        ),
        "spec.services[c].dependsOn[a]",
        "dependency cycle: a -> b -> c -> a",
    ),
    Case(
        "depends-on-bad-condition",
        app(
            "  services:\n"
            "    - {name: db, image: busybox}\n"
            "    - {name: web, image: busybox, dependsOn: [{service: db, condition: ready}]}\n"
        ),
        "spec.services[web].dependsOn[db].condition",
        "'healthy'",
    ),
    Case(
        "volume-not-declared",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts: [{volume: uploads, mountPath: /srv}]\n"
        ),
        "spec.services[web].volumeMounts[/srv].volume",
        "no volume named 'uploads'",
    ),
    Case(
        "network-not-declared",
        app("  services:\n    - {name: web, image: busybox, networks: [{name: back}]}\n"),
        "spec.services[web].networks[back]",
        "no network named 'back'",
    ),
    Case(
        "secret-not-declared",
        app("  services:\n    - {name: web, image: busybox, secrets: [{name: tok}]}\n"),
        "spec.services[web].secrets[tok]",
        "no secret named 'tok'",
    ),
    # --- ports ----------------------------------------------------------------------
    Case(
        "published-port-with-replicas",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      replicas: 2\n"
            "      ports: [{target: 80, published: 8080}]\n"
        ),
        "spec.services[web].ports[80]",
        "host port 8080 cannot be published by 2 replicas",
    ),
    Case(
        "published-port-on-two-services",
        app(
            "  services:\n"
            "    - {name: web, image: busybox, ports: [{target: 80, published: 8080}]}\n"
            "    - name: api\n"
            "      image: busybox\n"
            "      ports: [{target: 81, published: 8080, hostIP: 127.0.0.1}]\n"
        ),
        "spec.services[api].ports[81]",
        "already published by service web",
    ),
    # --- secrets --------------------------------------------------------------------
    Case(
        "secret-file-missing",
        app("  services: []\n  secrets: [{name: tok, file: ./secrets/tok}]\n"),
        "spec.secrets[tok].file",
        "cannot read secret file './secrets/tok'",
    ),
    Case(
        "secret-env-unset",
        app("  services: []\n  secrets: [{name: tok, env: API_TOKEN}]\n"),
        "spec.secrets[tok].env",
        "environment variable API_TOKEN is not set",
    ),
    Case(
        "secret-two-sources",
        app("  services: []\n  secrets: [{name: tok, file: tok.txt, env: API_TOKEN}]\n"),
        "spec.secrets[tok]",
        "exactly one of file, env and kubernetesSecret",
        files={"tok.txt": "s3cret"},
        environ={"API_TOKEN": "s3cret"},
    ),
    Case(
        "secret-no-source",
        app("  services: []\n  secrets: [{name: tok}]\n"),
        "spec.secrets[tok]",
        "exactly one of file, env and kubernetesSecret",
    ),
    Case(
        "kubernetes-secret-from-file",
        app("  services: []\n  secrets: [{name: tok, kubernetesSecret: {name: a, key: b}}]\n"),
        "spec.secrets[tok].kubernetesSecret",
        "only available when the App comes from Kubernetes",
    ),
    # --- interpolation --------------------------------------------------------------
    Case(
        "required-variable-unset",
        app(
            "  services:\n    - name: web\n      image: 'shop/web:${TAG:?set TAG to the release}'\n"
        ),
        "spec.services[web].image",
        "required variable TAG is not set: set TAG to the release",
    ),
    Case(
        "required-variable-empty",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      env: [{name: DB, value: '${DB_URL:?need a database}'}]\n"
        ),
        "spec.services[web].env[DB].value",
        "required variable DB_URL is not set: need a database",
        environ={"DB_URL": ""},
    ),
    Case(
        "invalid-interpolation",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      command: [echo, 'cost: 5${']\n"
        ),
        "spec.services[web].command[1]",
        "invalid interpolation",
    ),
    Case(
        "unterminated-interpolation",
        app("  services:\n    - {name: web, image: 'busybox:${TAG'}\n"),
        "spec.services[web].image",
        "use $$ for a literal $",
    ),
    # --- files and paths ------------------------------------------------------------
    Case(
        "secret-file-escapes",
        app("  services: []\n  secrets: [{name: tok, file: ../../etc/passwd}]\n"),
        "spec.secrets[tok].file",
        "leaves the manifest's folder",
    ),
    Case(
        "env-file-escapes",
        app("  services:\n    - {name: web, image: busybox, envFiles: [../x.env]}\n"),
        "spec.services[web].envFiles[../x.env]",
        "leaves the manifest's folder",
        files={"../x.env": "A=1\n"},
    ),
    Case(
        "build-context-escapes",
        app("  services:\n    - {name: web, image: web, build: {context: ../..}}\n"),
        "spec.services[web].build.context",
        "leaves the manifest's folder",
    ),
    Case(
        "host-path-escapes",
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      volumeMounts: [{hostPath: ./conf/../../.., mountPath: /etc/web}]\n"
        ),
        "spec.services[web].volumeMounts[/etc/web].hostPath",
        "leaves the manifest's folder",
    ),
    Case(
        "env-file-missing",
        app("  services:\n    - {name: web, image: busybox, envFiles: [web.env]}\n"),
        "spec.services[web].envFiles[web.env]",
        "cannot read env file",
    ),
    Case(
        "env-file-malformed",
        app("  services:\n    - {name: web, image: busybox, envFiles: [web.env]}\n"),
        "spec.services[web].envFiles[web.env]",
        "web.env:2: expected KEY=VALUE",
        files={"web.env": "A=1\nthis is not a variable\n"},
    ),
    Case(
        "build-context-missing",
        app("  services:\n    - {name: web, image: web, build: {context: ./web}}\n"),
        "spec.services[web].build.context",
        "build context './web' is not a folder",
    ),
    Case(
        "dockerfile-missing",
        app("  services:\n    - {name: web, image: web, build: {context: ./web}}\n"),
        "spec.services[web].build.dockerfile",
        "no Dockerfile in ./web",
        files={"web/app.py": "print('hi')\n"},
    ),
    # --- documents ------------------------------------------------------------------
    Case(
        "wrong-api-version",
        app("  services: []\n").replace("v1alpha1", "v1"),
        "apiVersion",
        "not a dockyard manifest",
    ),
    Case(
        "wrong-kind",
        app("  services: []\n").replace("kind: App", "kind: Application"),
        "kind",
        "not a dockyard manifest",
    ),
    Case(
        "wrong-api-version-in-folder",
        app("  services: []\n").replace("v1alpha1", "v1beta1"),
        "apiVersion",
        "not a dockyard manifest",
        target="@folder",
    ),
    Case(
        "not-yaml",
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: shop\nspec: [\n",
        "line ",
        "not valid YAML",
    ),
    Case(
        "not-a-mapping",
        "- apiVersion: dockyard.dev/v1alpha1\n  kind: App\n",
        "(root)",
        "expected a mapping",
    ),
    Case(
        "missing-spec",
        "apiVersion: dockyard.dev/v1alpha1\nkind: App\nmetadata: {name: shop}\n",
        "spec",
        "required field is missing",
    ),
    Case(
        "second-document-invalid",
        app("  services: []\n")
        + "---\n"
        + "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\nmetadata: {name: edge}\n"
        + "spec: {}\n",
        "document 2: spec",
        "exactly one of url and agent",
    ),
    Case(
        "docker-host-tls-file-missing",
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\nmetadata: {name: edge}\n"
        "spec: {url: 'tcp://10.0.0.17:2376', tls: {caFile: ca.pem}}\n",
        "spec.tls.caFile",
        "no such file 'ca.pem'",
    ),
    Case(
        "two-apps-same-name-in-folder",
        app("  services: []\n"),
        "metadata.name",
        "app 'shop' is defined twice",
        files={"other.yaml": app("  services: [{name: web, image: busybox}]\n")},
        target="@folder",
    ),
]


def _write(root: Path, case: Case) -> Path:
    folder = root / "project" / "app"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(case.manifest, encoding="utf-8")
    for name, text in case.files.items():
        file = folder / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return folder if case.target == "@folder" else folder / case.target


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_manifest_is_rejected_with_its_field_path(tmp_path: Path, case: Case) -> None:
    target = _write(tmp_path, case)

    with pytest.raises(SpecError) as info:
        load_paths([target], environ=case.environ)

    err = info.value
    rendered = str(err)
    assert err.errors, "a SpecError must list at least one problem"
    assert all(e.message.strip() for e in err.errors), rendered
    assert any(case.path in e.path for e in err.errors), rendered
    assert f"{case.path}" in rendered and case.fragment in rendered, rendered
    assert "Traceback" not in rendered and 'File "' not in rendered, rendered
    # Pydantic's own wording and links are translated into ours.
    assert "errors.pydantic.dev" not in rendered and "Value error," not in rendered, rendered


def test_case_table_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_one_bad_manifest_rejects_the_whole_set(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        app("  services: [{name: web, image: busybox}]\n").replace("shop", "good"),
        encoding="utf-8",
    )
    (tmp_path / "bad.yaml").write_text(
        app("  services: [{name: web, image: busybox, replicas: -1}]\n").replace("shop", "bad"),
        encoding="utf-8",
    )

    result = None
    with pytest.raises(SpecError) as info:
        result = load_paths([tmp_path], environ={})

    assert result is None
    assert [e.source for e in info.value.errors] == [str(tmp_path / "bad.yaml")]
    assert "spec.services[web].replicas" in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        app(
            "  services:\n"
            "    - {name: web, image: busybox, replicas: -1}\n"
            "    - {name: api, image: busybox, restart: sometimes}\n"
        ),
        encoding="utf-8",
    )

    with pytest.raises(SpecError) as info:
        load_paths([tmp_path / "app.yaml"], environ={})

    paths = {e.path for e in info.value.errors}
    assert {"spec.services[web].replicas", "spec.services[api].restart"} <= paths


def test_errors_name_the_file_they_come_from(tmp_path: Path) -> None:
    file = tmp_path / "app.yaml"
    file.write_text(app("  services: [{name: web, image: busybox, replicas: x}]\n"))

    with pytest.raises(SpecError) as info:
        load_paths([file], environ={})

    line = (
        file.read_text()
        .splitlines()
        .index("  services: [{name: web, image: busybox, replicas: x}]")
    )
    assert str(info.value).startswith(f"{file}:{line + 1}: spec.services[web].replicas: ")


def test_a_field_error_names_the_line_of_the_field(tmp_path: Path) -> None:
    file = tmp_path / "app.yaml"
    file.write_text(
        app(
            "  services:\n"
            "    - name: web\n"
            "      image: busybox\n"
            "      ports:\n"
            "        - {target: 80, published: 99999}\n"
        )
    )
    with pytest.raises(SpecError) as info:
        load_paths([file], environ={})
    (error,) = info.value.errors
    lines = file.read_text().splitlines()
    assert error.line == lines.index("        - {target: 80, published: 99999}") + 1
    assert error.render().startswith(f"{file}:{error.line}: spec.services[web].ports[80]")


def test_an_error_deep_in_a_large_fleet_file_names_its_line(tmp_path: Path) -> None:
    hosts = "".join(
        f"---\napiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        f"metadata: {{name: dev-{i}}}\nspec: {{agent: {{id: dev-{i}}}}}\n"
        for i in range(500)
    )
    file = tmp_path / "fleet.yaml"
    file.write_text("---\n---\n" + hosts.replace("{id: dev-321}", "{id: dev-321, idd: x}"))
    with pytest.raises(SpecError) as info:
        load_paths([tmp_path], environ={})
    (error,) = info.value.errors
    lines = file.read_text().splitlines()
    assert error.line == lines.index("spec: {agent: {id: dev-321, idd: x}}") + 1
    assert "document 322: spec.agent.idd: unknown field" in error.render()


def test_a_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    file = tmp_path / "app.yaml"
    file.write_text(app("  services:\n    - name: web\n      image: busybox\n      image: nginx\n"))
    with pytest.raises(SpecError) as info:
        load_paths([file], environ={})
    lines = file.read_text().splitlines()
    first, second = (i + 1 for i, text in enumerate(lines) if text.strip().startswith("image:"))
    text = str(info.value)
    assert text.startswith(f"{file}:{second}: ")
    assert f"duplicate key 'image' (first at line {first})" in text


def test_missing_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file or folder"):
        load_paths([tmp_path / "nope.yaml"], environ={})


def test_an_escaping_path_is_one_error_not_a_cascade(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "app.yaml").write_text(
        app(
            "  services:\n    - {name: web, image: web, build: {context: ../..}}\n"
            "  secrets: [{name: tok, file: ../../etc/passwd}]\n"
        ),
        encoding="utf-8",
    )

    with pytest.raises(SpecError) as info:
        load_paths([folder / "app.yaml"], environ={})

    assert [e.path for e in info.value.errors] == [
        "spec.secrets[tok].file",
        "spec.services[web].build.context",
    ]


def test_other_yaml_in_a_folder_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(app("  services: [{name: web, image: busybox}]\n"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "list.yaml").write_text("- one\n- two\n")
    (tmp_path / "config" / "settings.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    (tmp_path / "package.json").write_text('{"name": "web"}')

    result = load_paths([tmp_path], environ={})

    assert [a.name for a in result.apps] == ["shop"]


def test_a_duplicate_key_in_a_compose_file_is_refused_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "compose.yaml"
    file.write_text("services:\n  web:\n    image: busybox\n    image: nginx\n")
    with pytest.raises(SpecError) as info:
        load_paths([file], environ={})
    text = str(info.value)
    assert text.startswith(f"{file}:4: ")
    assert "duplicate key 'image' (first at line 3)" in text
