"""A branch of a git repository, polled: a snapshot of its apps at every new commit.

A source is written `URL[#BRANCH[:PATH]]`:

    git+file:///srv/apps.git                  branch main, whole repository
    https://git.example.com/ops/apps.git#prod branch prod
    ssh://git@git.example.com/ops/apps.git#main:edge/lyon
    git@git.example.com:ops/apps.git#:apps    branch main, folder apps

Everything after the first `#` is `BRANCH:PATH`; either part may be left out
(`#prod`, `#:apps`). Git forbids `:` in branch names, so the split is never
ambiguous, and the URL itself is never split. `git+` in front of a URL is
dropped before git sees it (`git+file://`, `git+https://`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath

from dockyard.controller.source import Emit, SourceUpdate
from dockyard.spec.errors import SpecError
from dockyard.spec.load import load_paths
from dockyard.spec.secret_command import refresh_interval

from .folder import update_key

log = logging.getLogger("dockyard.sources.git")

FETCH_TIMEOUT = 120.0  # seconds; a fetch over a slow link may be long, a hung one is killed
LOCAL_TIMEOUT = 60.0  # seconds, for git commands that touch only the local cache

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


class GitError(Exception):
    """A git command failed; the message is safe to log (credentials redacted)."""


def redact(text: str) -> str:
    """Hide credentials written in URLs: `https://user:token@host` → `https://***@host`."""
    return _USERINFO.sub("***@", text)


def parse_git_source(text: str) -> tuple[str, str, str]:
    """Split `URL[#BRANCH[:PATH]]` into (git URL, branch, path inside the repository)."""
    url, _, fragment = text.strip().partition("#")
    if url.startswith("git+"):
        url = url[len("git+") :]
    if not url or url.startswith("-"):
        raise ValueError(f"{redact(text)!r}: expected a repository URL before '#'")
    branch, _, subpath = fragment.partition(":")
    branch = branch or "main"
    if branch.startswith("-") or ".." in branch or any(c.isspace() for c in branch):
        raise ValueError(f"{redact(text)!r}: {branch!r} is not a valid branch name")
    return url, branch, clean_subpath(subpath)


def clean_subpath(subpath: str) -> str:
    """A path inside the repository, normalised (`./apps/` → `apps`); never leaving it."""
    path = PurePosixPath(subpath or ".")
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"path {subpath!r} must be relative and stay inside the repository")
    return str(path)


class GitSource:
    """Follows one branch of a repository; emits the apps under PATH at each new commit.

    The repository is fetched into a bare mirror under `cache_dir`, and each new
    commit is checked out into a fresh worktree `checkouts/<sha>`, so a file deleted
    by a commit is gone. The checkout of the commit last emitted with valid apps stays
    on disk (build contexts, env and secret files, bind mounts point into it); older
    ones are deleted once a newer one has been emitted.
    """

    def __init__(
        self,
        url: str,
        branch: str = "main",
        subpath: str = ".",
        interval: float = 30.0,
        *,
        cache_dir: Path,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url[len("git+") :] if url.startswith("git+") else url
        self.branch = branch
        self.subpath = clean_subpath(subpath)
        self.interval = interval
        self.environ = environ
        key = hashlib.sha256(f"{self.url}#{branch}:{self.subpath}".encode()).hexdigest()[:12]
        # One cache per source: two sources never fetch into or prune the same folder.
        self.cache = Path(cache_dir).expanduser().resolve() / key
        self.mirror = self.cache / "repo.git"
        self.checkouts = self.cache / "checkouts"
        self._current: Path | None = None  # the checkout the last good apps refer to

    @property
    def id(self) -> str:
        return f"git:{redact(self.url)}#{self.branch}:{self.subpath}"

    async def run(self, emit: Emit) -> None:
        synced: str | None = None  # commit of the last update emitted
        unreachable_reported = False
        # Command secrets with `refresh`: the same commit is loaded again when due (checked
        # at each fetch), so a rotated value rolls out without a new commit.
        refresh: float | None = None
        due = 0.0
        last_key: tuple[object, ...] | None = None
        while True:
            try:
                sha = await self._poll(first=synced is None)
                now = time.monotonic()
                if sha != synced:
                    update = await self._sync(sha, emit)
                    synced = sha
                elif refresh and now >= due and self._current == self.checkouts / sha:
                    update = await asyncio.to_thread(self._load, sha, self._current)
                    if update_key(update) != last_key:
                        await emit(update)
                else:
                    update = None
                if update is not None:
                    last_key = update_key(update)
                    if update.apps is not None:
                        refresh = refresh_interval(a.app for a in update.apps)
                    due = now + (refresh or 0.0)
            except GitError as exc:
                log.warning("%s: %s (retrying in %g s)", self.id, exc, self.interval)
                # Once something was emitted, a failing fetch keeps the last state: a
                # flaky link must not stop or remove anything.
                if synced is None and not unreachable_reported:
                    unreachable_reported = True
                    await emit(
                        SourceUpdate(
                            source=self.id,
                            revision="unreachable",
                            apps=None,
                            error=f"cannot read branch {self.branch} of {redact(self.url)}: "
                            f"{exc} (retrying every {self.interval:g} s)",
                        )
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: unexpected failure (retrying in %g s)", self.id, self.interval)
            await asyncio.sleep(self.interval)

    async def _poll(self, first: bool) -> str:
        """Fetch the branch; the commit it points to now."""
        try:
            self.checkouts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GitError(f"cannot create the cache folder {self.cache}: {exc}") from None
        if not (self.mirror / "HEAD").is_file():
            await self._git("init", "--quiet", "--bare", str(self.mirror), git_dir=False)
        ref = f"refs/remotes/origin/{self.branch}"
        try:
            await self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--force",
                self.url,
                f"+refs/heads/{self.branch}:{ref}",
                timeout=FETCH_TIMEOUT,
            )
        except GitError as exc:
            cached = await self._rev_parse(ref) if first else None
            if cached is None:
                raise
            # Started while offline: the commit fetched by an earlier run is the best we know.
            log.warning("%s: %s; using the cached commit %s", self.id, exc, cached[:12])
            return cached
        sha = await self._rev_parse(ref)
        if sha is None:
            raise GitError(f"branch {self.branch} was fetched but cannot be read")
        return sha

    async def _rev_parse(self, ref: str) -> str | None:
        try:
            out = await self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            return None
        return out.strip() or None

    async def _sync(self, sha: str, emit: Emit) -> SourceUpdate:
        checkout = await self._checkout(sha)
        update = await asyncio.to_thread(self._load, sha, checkout)
        if update.apps is not None:
            log.info("%s: synced to commit %s", self.id, sha[:12])
        await emit(update)
        if update.apps is None:
            # Nothing refers to a broken commit's files: the last good checkout stays.
            if checkout != self._current:
                await self._remove(checkout)
            return update
        self._current = checkout
        for old in sorted(self.checkouts.iterdir()):
            if old != checkout:
                await self._remove(old)
        return update

    async def _checkout(self, sha: str) -> Path:
        target = self.checkouts / sha
        if target.is_dir():
            with contextlib.suppress(GitError):
                head = await self._git("rev-parse", "HEAD", git_dir=False, cwd=target)
                if head.strip() == sha:
                    return target  # the same commit again (a revert of a force-push, a restart)
            await self._remove(target)
        await self._git("worktree", "prune")
        await self._git("worktree", "add", "--quiet", "--detach", "--force", str(target), sha)
        return target

    async def _remove(self, checkout: Path) -> None:
        await asyncio.to_thread(shutil.rmtree, checkout, True)
        with contextlib.suppress(GitError):
            await self._git("worktree", "prune")

    def _load(self, sha: str, checkout: Path) -> SourceUpdate:
        """Load the manifests of one checked-out commit (blocking: runs in a thread)."""
        root = (checkout / self.subpath).resolve()
        problem = None
        if not root.is_relative_to(checkout):
            problem = f"path {self.subpath!r} leaves the repository (through a symlink)"
        elif not root.exists():
            problem = f"no {self.subpath!r} in the repository at this commit"
        if problem is not None:
            error = f"commit {sha[:12]}: {problem}"
            return SourceUpdate(source=self.id, revision=sha, apps=None, error=error)
        try:
            result = load_paths([root], self.environ)
        except SpecError as exc:
            # Name files as they are in the repository, not by their place in the cache.
            prefix = f"{checkout}{os.sep}"
            errors = [replace(e, source=e.source.removeprefix(prefix)) for e in exc.errors]
            named = SpecError(errors)
            error = f"commit {sha[:12]}: {named.render()}"
            return SourceUpdate(
                source=self.id,
                revision=sha,
                apps=None,
                error=error,
                invalid_apps=tuple(named.by_app().items()),
            )
        except Exception as exc:
            # A bug in loading: reported once for this commit, like an invalid manifest.
            log.exception("%s: loading commit %s failed", self.id, sha[:12])
            error = f"commit {sha[:12]}: cannot be loaded: {exc}"
            return SourceUpdate(source=self.id, revision=sha, apps=None, error=error)
        return SourceUpdate(
            source=self.id,
            revision=sha,
            apps=tuple(result.apps),
            hosts=tuple(result.hosts),
            warnings=tuple(result.warnings),
        )

    async def _git(
        self,
        *args: str,
        git_dir: bool = True,
        cwd: Path | None = None,
        timeout: float = LOCAL_TIMEOUT,
    ) -> str:
        argv = ["git", *(["--git-dir", str(self.mirror)] if git_dir else []), *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            # No controlling terminal: ssh cannot ask for a password and hang.
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            raise GitError(f"git {args[0]} timed out after {timeout:g} s") from None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await proc.wait()
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip().splitlines()
            detail = "; ".join(line for line in message[-3:] if line) or f"exit {proc.returncode}"
            raise GitError(redact(f"git {args[0]} failed: {detail}"))
        return out.decode(errors="replace")
