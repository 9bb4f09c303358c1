"""GitOps sources: a polled folder and a polled git branch, each emitting whole snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.controller.source import Source, SourceUpdate
from dockyard.sources.folder import FolderSource
from dockyard.sources.git import GitSource, parse_git_source, redact
from dockyard.sources.parse import source_from_arg
from waiting import eventually

FAST = 0.05


def manifest(name: str, replicas: object = 1) -> str:
    return (
        "apiVersion: dockyard.dev/v1alpha1\n"
        "kind: App\n"
        f"metadata:\n  name: {name}\n"
        "spec:\n"
        "  services:\n"
        "    - name: web\n"
        "      image: dockyard.local/busybox:latest\n"
        f"      replicas: {replicas}\n"
    )


class Updates:
    """What a source emitted, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[SourceUpdate] = asyncio.Queue()

    async def emit(self, update: SourceUpdate) -> None:
        await self.queue.put(update)

    async def next(self, timeout: float = 5.0) -> SourceUpdate:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def assert_quiet(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        assert self.queue.empty(), f"unexpected update: {self.queue.get_nowait()}"


@contextlib.asynccontextmanager
async def running(source: Source) -> AsyncIterator[Updates]:
    updates = Updates()
    task = asyncio.create_task(source.run(updates.emit))
    try:
        yield updates
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def names(update: SourceUpdate) -> list[str]:
    assert update.apps is not None, update.error
    return sorted(app.name for app in update.apps)


# --- folder -------------------------------------------------------------------------------


async def test_folder_emits_a_first_snapshot(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    source = FolderSource(tmp_path, interval=FAST, environ={})
    assert source.id == f"dir:{tmp_path.resolve()}"
    async with running(source) as updates:
        first = await updates.next()
    assert first.source == source.id
    assert names(first) == ["web"]
    assert len(first.revision) == 12
    assert first.error is None


async def test_folder_new_file_adds_its_app(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        first = await updates.next()
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "db.yml").write_text(manifest("db"))
        second = await updates.next()
    assert names(second) == ["db", "web"]
    assert second.revision != first.revision


async def test_folder_edited_file_gives_a_new_revision(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        first = await updates.next()
        (tmp_path / "web.yaml").write_text(manifest("web", replicas=3))
        second = await updates.next()
    assert second.revision != first.revision
    assert second.apps is not None
    assert second.apps[0].app.spec.services[0].replicas == 3


async def test_folder_deleted_file_removes_its_app(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    (tmp_path / "db.yaml").write_text(manifest("db"))
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        assert names(await updates.next()) == ["db", "web"]
        (tmp_path / "db.yaml").unlink()
        assert names(await updates.next()) == ["web"]


async def test_folder_touched_but_unchanged_emits_nothing(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        await updates.next()
        later = (tmp_path / "web.yaml").stat().st_mtime_ns + 5_000_000_000
        os.utime(tmp_path / "web.yaml", ns=(later, later))
        (tmp_path / "web.yaml").write_text(manifest("web"))  # same bytes again
        await updates.assert_quiet(8 * FAST)


async def test_folder_hidden_directories_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        await updates.next()
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "index").write_bytes(b"changes all the time")
        await updates.assert_quiet(8 * FAST)


async def test_folder_invalid_manifest_is_reported_once_then_fixed(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        good = await updates.next()
        (tmp_path / "web.yaml").write_text(manifest("web", replicas="many"))
        bad = await updates.next()
        assert bad.apps is None
        assert bad.error is not None
        assert "spec.services[web].replicas" in bad.error
        assert "web.yaml" in bad.error
        assert bad.revision not in (good.revision, "")
        await updates.assert_quiet(6 * FAST)  # the same bad revision is reported once
        (tmp_path / "web.yaml").write_text(manifest("web", replicas=2))
        fixed = await updates.next()
    assert names(fixed) == ["web"]
    assert fixed.error is None


async def test_folder_missing_is_an_error_until_it_appears(tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    async with running(FolderSource(folder, interval=FAST, environ={})) as updates:
        missing = await updates.next()
        assert missing.apps is None
        assert missing.error is not None and str(folder) in missing.error
        await updates.assert_quiet(4 * FAST)
        folder.mkdir()
        (folder / "web.yaml").write_text(manifest("web"))
        assert names(await updates.next()) == ["web"]


async def test_folder_source_may_be_one_file(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(manifest("web"))
    (tmp_path / "db.yaml").write_text(manifest("db"))
    async with running(FolderSource(tmp_path / "web.yaml", interval=FAST, environ={})) as updates:
        assert names(await updates.next()) == ["web"]
        (tmp_path / "web.yaml").write_text(manifest("web", replicas=2))
        assert names(await updates.next()) == ["web"]


# --- git ----------------------------------------------------------------------------------


class Repo:
    """A real git repository to commit manifests to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return f"git+file://{self.path}"

    def git(self, *args: str) -> str:
        identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
        result = subprocess.run(
            ["git", "-C", str(self.path), *identity, "-c", "commit.gpgsign=false", *args],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        file = self.path / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def git_source(repo: Repo, tmp_path: Path, branch: str = "main", subpath: str = ".") -> GitSource:
    return GitSource(
        repo.url, branch, subpath, interval=FAST, cache_dir=tmp_path / "cache", environ={}
    )


async def test_git_emits_the_commit_sha(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    sha = repo.commit()
    source = git_source(repo, tmp_path)
    assert source.id == f"git:file://{repo.path}#main:."
    async with running(source) as updates:
        update = await updates.next()
        assert update.revision == sha
        assert names(update) == ["web"]
        assert update.apps is not None
        # Relative paths resolve inside the checkout, which stays while its apps are desired.
        checkout = update.apps[0].base_dir
        assert (checkout / "web.yaml").is_file()
        assert checkout.is_relative_to(tmp_path / "cache")
        await updates.assert_quiet(4 * FAST)


async def test_git_new_commit_gives_a_new_update(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    repo.commit()
    async with running(git_source(repo, tmp_path)) as updates:
        first = await updates.next()
        repo.write("web.yaml", manifest("web", replicas=4))
        sha = repo.commit()
        second = await updates.next()
        assert second.revision == sha
        assert second.apps is not None
        assert second.apps[0].app.spec.services[0].replicas == 4
        # Once the new state is emitted, the older checkout is deleted.
        assert first.apps is not None
        old_checkout = first.apps[0].base_dir
        await eventually(lambda: not old_checkout.exists())
        assert second.apps[0].base_dir.is_dir()


async def test_git_deleted_manifest_removes_app_and_file(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    repo.write("db.yaml", manifest("db"))
    repo.commit()
    async with running(git_source(repo, tmp_path)) as updates:
        assert names(await updates.next()) == ["db", "web"]
        repo.git("rm", "-q", "db.yaml")
        sha = repo.commit("remove db")
        update = await updates.next()
    assert update.revision == sha
    assert names(update) == ["web"]
    assert update.apps is not None
    checkout = update.apps[0].base_dir
    assert (checkout / "web.yaml").is_file()
    assert not (checkout / "db.yaml").exists()


async def test_git_broken_commit_names_commit_and_field(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    repo.commit()
    async with running(git_source(repo, tmp_path)) as updates:
        good = await updates.next()
        repo.write("web.yaml", manifest("web", replicas="many"))
        bad_sha = repo.commit("break it")
        bad = await updates.next()
        assert bad.apps is None
        assert bad.revision == bad_sha
        assert bad.error is not None
        assert bad.error.startswith(f"commit {bad_sha[:12]}: ")
        assert "web.yaml:9: spec.services[web].replicas" in bad.error  # file:line: field
        assert str(tmp_path / "cache") not in bad.error  # named as in the repository
        # The last good state is still desired: its checkout stays.
        assert good.apps is not None and (good.apps[0].base_dir / "web.yaml").is_file()
        await updates.assert_quiet(4 * FAST)
        repo.write("web.yaml", manifest("web", replicas=2))
        fixed_sha = repo.commit("fix it")
        fixed = await updates.next()
    assert fixed.revision == fixed_sha
    assert names(fixed) == ["web"]


async def test_git_branch_and_subpath_select_what_is_read(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    repo.commit()
    repo.git("checkout", "-q", "-b", "prod")
    repo.write("apps/lyon/edge.yaml", manifest("edge"))
    repo.write("apps/paris/other.yaml", manifest("other"))
    prod_sha = repo.commit("prod apps")
    repo.git("checkout", "-q", "main")
    source = git_source(repo, tmp_path, branch="prod", subpath="apps/lyon")
    async with running(source) as updates:
        update = await updates.next()
    assert update.revision == prod_sha
    assert names(update) == ["edge"]


async def test_git_missing_subpath_is_an_error(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    sha = repo.commit()
    async with running(git_source(repo, tmp_path, subpath="nowhere")) as updates:
        update = await updates.next()
    assert update.apps is None
    assert update.error == f"commit {sha[:12]}: no 'nowhere' in the repository at this commit"


async def test_git_fetch_failure_after_success_keeps_the_last_state(
    repo: Repo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo.write("web.yaml", manifest("web"))
    repo.commit()
    caplog.set_level(logging.WARNING, logger="dockyard.sources.git")
    async with running(git_source(repo, tmp_path)) as updates:
        good = await updates.next()
        shutil.rmtree(repo.path)
        await updates.assert_quiet(8 * FAST)
    assert good.apps is not None and good.apps[0].base_dir.is_dir()
    assert any("git fetch failed" in r.getMessage() for r in caplog.records)


async def test_git_unreachable_at_start_is_reported_once(tmp_path: Path) -> None:
    repo_path = tmp_path / "later"
    source = GitSource(
        f"git+file://{repo_path}", interval=FAST, cache_dir=tmp_path / "cache", environ={}
    )
    async with running(source) as updates:
        first = await updates.next()
        assert first.apps is None
        assert first.error is not None
        assert f"cannot read branch main of file://{repo_path}" in first.error
        await updates.assert_quiet(4 * FAST)
        repo = Repo(repo_path)
        repo.write("web.yaml", manifest("web"))
        sha = repo.commit()
        update = await updates.next()
    assert update.revision == sha
    assert names(update) == ["web"]


async def test_git_credentials_in_urls_are_never_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dockyard.sources.git")
    source = GitSource(
        "https://alice:s3cr3t@127.0.0.1:9/apps.git",
        interval=FAST,
        cache_dir=tmp_path / "cache",
        environ={},
    )
    assert "s3cr3t" not in source.id
    async with running(source) as updates:
        update = await updates.next()
    assert update.apps is None
    assert update.error is not None and "https://***@127.0.0.1:9/apps.git" in update.error
    assert "s3cr3t" not in update.error
    assert caplog.records
    assert all("s3cr3t" not in r.getMessage() for r in caplog.records)


async def test_git_restart_offline_uses_the_cached_commit(repo: Repo, tmp_path: Path) -> None:
    repo.write("web.yaml", manifest("web"))
    sha = repo.commit()
    async with running(git_source(repo, tmp_path)) as updates:
        await updates.next()
    shutil.rmtree(repo.path)
    async with running(git_source(repo, tmp_path)) as updates:
        update = await updates.next()
    assert update.revision == sha
    assert names(update) == ["web"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("git+file:///srv/apps.git", ("file:///srv/apps.git", "main", ".")),
        ("git+file:///srv/apps.git#prod", ("file:///srv/apps.git", "prod", ".")),
        ("git+file:///srv/apps.git#prod:edge/lyon", ("file:///srv/apps.git", "prod", "edge/lyon")),
        ("git+file:///srv/apps.git#:apps/", ("file:///srv/apps.git", "main", "apps")),
        ("https://host:8443/org/apps.git#v2:./x", ("https://host:8443/org/apps.git", "v2", "x")),
        ("ssh://git@host/org/apps.git", ("ssh://git@host/org/apps.git", "main", ".")),
        ("git@host:org/apps.git#release/1.0:a", ("git@host:org/apps.git", "release/1.0", "a")),
    ],
)
def test_parse_git_source(text: str, expected: tuple[str, str, str]) -> None:
    assert parse_git_source(text) == expected


@pytest.mark.parametrize(
    "text", ["#main", "git+file:///r.git#main:/etc", "git+file:///r.git#:../up", "x#a..b"]
)
def test_parse_git_source_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_git_source(text)


def test_redact_hides_userinfo() -> None:
    assert redact("fatal: https://bob:pw@host/r.git") == "fatal: https://***@host/r.git"
    assert redact("https://token@host/r.git") == "https://***@host/r.git"
    assert redact("git@host:org/r.git") == "git@host:org/r.git"


# --- parse --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arg",
    [
        "git+file:///srv/apps.git",
        "https://host/org/apps.git#main:apps",
        "http://host/apps.git",
        "ssh://git@host/org/apps.git",
        "git@host:org/apps.git",
    ],
)
def test_git_arguments_make_git_sources(arg: str, tmp_path: Path) -> None:
    source = source_from_arg(arg, interval_dir=0.5, interval_git=30, cache_dir=tmp_path)
    assert isinstance(source, GitSource)
    assert source.interval == 30
    assert source.id.startswith("git:")


@pytest.mark.parametrize("arg", ["./apps", "apps", "/srv/apps", "manifests/web.yaml"])
def test_paths_make_folder_sources(arg: str, tmp_path: Path) -> None:
    source = source_from_arg(arg, interval_dir=0.5, interval_git=30, cache_dir=tmp_path)
    assert isinstance(source, FolderSource)
    assert source.interval == 0.5
    assert source.id == f"dir:{Path(arg).resolve()}"


@pytest.mark.parametrize("arg", ["ftp://host/apps", "file:///srv/apps", "  "])
def test_other_arguments_say_what_is_accepted(arg: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="git\\+file://"):
        source_from_arg(arg, interval_dir=0.5, interval_git=30, cache_dir=tmp_path)


async def test_folder_serves_compose_files_and_hosts_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "name: shop\nservices:\n  web:\n    image: dockyard.local/busybox:latest\n"
        "    pull_policy: never\n"
    )
    (tmp_path / "compose.override.yaml").write_text(
        "services:\n  web:\n    deploy: {replicas: 2}\n"
    )
    (tmp_path / "hosts.yaml").write_text(
        "apiVersion: dockyard.dev/v1alpha1\nkind: DockerHost\n"
        "metadata: {name: edge-1, labels: {role: edge}}\nspec: {url: unix:///run/edge.sock}\n"
    )
    async with running(FolderSource(tmp_path, interval=FAST, environ={})) as updates:
        first = await updates.next()
    assert names(first) == ["shop"]
    assert first.apps is not None and first.apps[0].app.spec.services[0].replicas == 2
    assert [h.metadata.name for h in first.hosts] == ["edge-1"]
