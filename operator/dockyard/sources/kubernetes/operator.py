"""The operator: kopf watches, dockyard's Controller reconciles, status goes back.

`make_registry(options)` returns a kopf registry whose startup handler waits for the
leader Lease (a standby replica waits there, watching nothing), then starts the
Controller; kopf's watch handlers feed the KubernetesSource; a delete handler (and its
finalizer) holds an App's deletion until its containers are gone. `dockyard operator`
and `kopf run -m dockyard.sources.kubernetes.entry` run the same registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from dockyard.controller.access import tls_files
from dockyard.controller.http import HealthServer
from dockyard.controller.reconciler import Controller, Settings
from dockyard.engine.client import Engine
from dockyard.fleet.hosts import HostError, HostStatus, probe, target_for_host
from dockyard.spec.crd import GROUP, VERSION

from .api import KubeApi, ObjectRef
from .history import ClusterHistory
from .lease import LeaderElector
from .options import OperatorOptions
from .source import KubernetesSource
from .status import StatusWriter

log = logging.getLogger("dockyard.kubernetes")

FINALIZER = "dockyard.dev/finalizer"
DELETE_VOLUMES = "dockyard.dev/delete-volumes"
DELETE_TIMEOUT = 60.0


class OperatorRuntime:
    """Everything one operator process runs, started once it leads."""

    def __init__(self, options: OperatorOptions) -> None:
        self.options = options
        if options.kubeconfig:
            os.environ["KUBECONFIG"] = options.kubeconfig  # kopf's login reads it too
        self.api = KubeApi(options.kubeconfig)
        options.state_dir.mkdir(parents=True, exist_ok=True)
        self.source = KubernetesSource(self.api, options.namespaces, options.state_dir)
        settings = Settings(
            resync=options.resync,
            prune=True,
            workers=options.workers,
            state_dir=options.state_dir / "controller",
        )
        self.controller = Controller(Engine(options.engine_url), [self.source], settings)
        # The revisions and pins in the cluster too: a failover replica, or a new state
        # folder with new hosts, carries on with them.
        self.controller.history_sync.mirrors.append(ClusterHistory(self.api, self.source))
        self.writer = StatusWriter(self.api, self.source)
        self.controller.status_listeners.append(self.writer.listener)
        self.source.touch = self.controller.queue.add
        self.source.on_change = self._records_changed
        bind_host, _, port = options.listen.rpartition(":")
        tls = tls_files(options.tls_cert, options.tls_key, options.tls_client_ca)
        self.health = HealthServer(
            self.controller,
            bind_host.strip("[]") or "127.0.0.1",
            int(port or 9129),
            options.state_dir,
            tls,
        )
        self.elector: LeaderElector | None = None
        self.lease_from = ""
        if options.leader_election:
            lease_namespace, self.lease_from = options.lease_home()
            self.elector = LeaderElector(
                self.api,
                lease_namespace,
                options.lease_name,
                options.identity,
                options.lease_duration,
                options.lease_renew,
            )
        self.stop_flag = asyncio.Event()
        self.exit_code = 0
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        await self.health.start()
        if self.elector is not None:
            log.info(
                "leader election: lease %s/%s (namespace from %s)",
                self.elector.namespace,
                self.elector.name,
                self.lease_from,
            )
            await self.elector.acquire()
        else:
            log.info("leader election is off: run only one replica")
        self._tasks = [
            asyncio.create_task(self.controller.run(), name="controller"),
            asyncio.create_task(self.writer.run(), name="status-writer"),
            asyncio.create_task(self._probe_hosts(), name="host-prober"),
        ]
        if self.elector is not None:
            self._tasks.append(asyncio.create_task(self._keep_lease(), name="lease"))
        log.info("operator %s is active", self.options.identity)

    def _records_changed(self) -> None:
        """Called with each snapshot, before the controller sees it."""
        for name in self.source.held:
            if name in self.controller.ownership.apps and name not in self.controller.wanted:
                # Invalid since before this start: leave its containers as they are (not
                # an orphan to prune) until the App is fixed or deleted.
                log.warning("app %s: invalid spec; its containers are left as they are", name)
                self.controller.ownership.drop(name)
        self.writer.records_changed()

    async def _keep_lease(self) -> None:
        assert self.elector is not None
        await self.elector.keep()
        # Lost: stop acting at once; the process exits non-zero and is restarted as standby.
        log.error("leadership lost: stopping")
        self.exit_code = 1
        self.controller.queue.shutdown()
        self.stop_flag.set()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.controller.stop(grace=20.0)
        with contextlib.suppress(Exception):
            await self.writer.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.elector is not None and self.exit_code == 0:
            await self.elector.release()
        await self.health.stop()
        self.api.close()

    # ---- DockerHosts -------------------------------------------------------------------

    async def _probe_hosts(self) -> None:
        while True:
            records = dict(self.source.host_records)
            hosts = dict(self.source.resolved_hosts)
            for name, record in records.items():
                probed: HostStatus | None = None
                host = hosts.get(name)
                if host is not None and not record.invalid:
                    try:
                        target = target_for_host(host)
                        probed = await asyncio.to_thread(probe, target, 5.0)
                    except HostError as exc:
                        record.invalid = exc.render()
                try:
                    await self.writer.write_host(record, probed)
                except Exception as exc:
                    log.warning("status of DockerHost %s: %s", name, exc)
            await asyncio.sleep(self.options.host_probe_interval)

    # ---- deletion ----------------------------------------------------------------------

    async def delete_app(self, body: dict[str, Any]) -> None:
        """Hold the App's deletion (its finalizer) until its containers are removed."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
        record = self.source.records.get(name)
        if record is not None and record.namespace != namespace:
            return  # a same-named App of another namespace: it never ran anything
        self.source.app_event("MODIFIED", body)  # make sure the source left it out
        ref = ObjectRef("App", namespace, name, str(meta.get("uid") or ""))
        if any(k[1] == name and k[0] != namespace for k in self.source.apps):
            return  # a same-named App of another namespace takes over: nothing is removed
        annotations = meta.get("annotations") or {}
        volumes = str(annotations.get(DELETE_VOLUMES, "")).lower() == "true"
        # Through the controller's work queue, like every change: containers and networks
        # (named volumes when asked), also of an App the controller never ran (invalid).
        try:
            await asyncio.wait_for(
                asyncio.shield(self.controller.delete(name, volumes)), DELETE_TIMEOUT
            )
        except TimeoutError:
            raise kopf.TemporaryError(
                f"the containers of app {name} are not removed yet", delay=10
            ) from None
        what = "containers and named volumes" if volumes else "containers (named volumes kept)"
        await self.writer.post(ref, "Normal", "Deleted", f"removed the app's {what}")
        log.info("app %s/%s deleted: %s removed", namespace, name, what)


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="dockyard.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="dockyard.dev", key="last-handled-configuration"
    )
    settings.posting.enabled = False  # dockyard posts its own Events
    # kopf logs every handler call at INFO; dockyard's own log says what happened.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("kopf.activities").setLevel(logging.WARNING)
    settings.peering.standalone = True  # one active replica through the Lease instead
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60


def make_registry(options: OperatorOptions) -> tuple[kopf.OperatorRegistry, dict[str, Any]]:
    """A kopf registry for the operator, and a holder that receives its runtime."""
    registry = kopf.OperatorRegistry()
    holder: dict[str, Any] = {}

    def runtime() -> OperatorRuntime:
        return holder["runtime"]  # type: ignore[no-any-return]

    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # kopf's own login, as dockyard's client: in-cluster service account, else the
        # kubeconfig (KUBECONFIG, set from --kubeconfig, or ~/.kube/config).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)
        if "runtime" not in holder:
            holder["runtime"] = OperatorRuntime(options)
        await runtime().start()

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        if "runtime" in holder:
            await runtime().stop()

    @kopf.on.event(GROUP, VERSION, "apps", registry=registry)
    def _app(event: kopf.RawEvent, **_: Any) -> None:
        runtime().source.app_event(event.get("type"), dict(event["object"]))

    @kopf.on.event(GROUP, VERSION, "dockerhosts", registry=registry)
    def _host(event: kopf.RawEvent, **_: Any) -> None:
        runtime().source.host_event(event.get("type"), dict(event["object"]))

    def _referenced(namespace: str | None, name: str | None, **_: Any) -> bool:
        return "runtime" in holder and runtime().source.wants_secret(namespace, name)

    @kopf.on.event("v1", "secrets", registry=registry, when=_referenced)
    def _secret(event: kopf.RawEvent, **_: Any) -> None:
        runtime().source.secret_event(event.get("type"), dict(event["object"]))

    @kopf.on.delete(GROUP, VERSION, "apps", registry=registry, timeout=3600)
    async def _delete(body: kopf.Body, **_: Any) -> None:
        await runtime().delete_app(_plain(body))

    return registry, holder


def _plain(body: Any) -> dict[str, Any]:
    import copy

    return copy.deepcopy(dict(body))


async def run_operator(options: OperatorOptions) -> int:
    """Run until stopped (SIGTERM/SIGINT) or until leadership is lost (exit code 1)."""
    registry, holder = make_registry(options)
    stop_flag = asyncio.Event()

    async def watch_stop() -> None:
        while "runtime" not in holder:
            await asyncio.sleep(0.1)
        await holder["runtime"].stop_flag.wait()
        stop_flag.set()

    watcher = asyncio.create_task(watch_stop())
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            standalone=True,
            stop_flag=stop_flag,
        )
    finally:
        watcher.cancel()
    runtime: OperatorRuntime | None = holder.get("runtime")
    return runtime.exit_code if runtime is not None else 1
