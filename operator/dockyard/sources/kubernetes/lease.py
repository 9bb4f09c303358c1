"""Leader election on a coordination.k8s.io/v1 Lease: of all replicas, one is active.

As client-go's leaderelection: a candidate takes the Lease when nobody holds it or the
holder has not renewed it for `duration` (measured on the candidate's own clock from
when it last saw the record change, so clocks need not agree). The leader renews every
`renew`; when it cannot renew for `duration` it must stop acting at once. On a clean
stop the leader releases the Lease, so a successor takes over without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from dockyard.retry import Backoff

from .api import Conflict, KubeApi, kube_error, now_rfc3339

log = logging.getLogger("dockyard.kubernetes.lease")

# After an API error (a missing namespace, no RBAC, the server away): retry with backoff
# up to this, so that fixing it is noticed within seconds without hammering the server.
ERROR_RETRY = 1.0
MAX_RETRY = 8.0


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        duration: float = 15.0,
        renew: float = 5.0,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew = renew
        self.leading = False
        self._seen: tuple[Any, ...] | None = None
        self._seen_at = 0.0
        self._last_renewed = 0.0

    async def acquire(self) -> None:
        """Return once this replica holds the Lease (wait as standby until then)."""
        announced: object = None  # the holder last announced
        failure = ""  # the error last logged: each is logged once, not at every retry
        backoff = Backoff(ERROR_RETRY, MAX_RETRY)
        while True:
            try:
                if await self._try_acquire():
                    log.info(
                        "leader election: %s now leads (lease %s/%s)",
                        self.identity,
                        self.namespace,
                        self.name,
                    )
                    self.leading = True
                    self._last_renewed = time.monotonic()
                    return
                failure = ""
                backoff.reset()
            except Conflict:
                failure = ""  # another replica moved first: read again
                backoff.reset()
            except Exception as exc:  # the API server may be away for a while: keep trying
                message = self._explain(exc)
                if message != failure:
                    log.error("leader election: %s (retrying quietly)", message)
                    failure = message
                await asyncio.sleep(backoff.next())
                continue
            holder = self._seen[0] if self._seen else None
            if holder and holder != announced:  # only a holder read from the Lease is named
                log.info(
                    "leader election: standing by; %s holds lease %s/%s",
                    holder,
                    self.namespace,
                    self.name,
                )
                announced = holder
            await asyncio.sleep(min(self.renew, 1.0))

    def _explain(self, exc: Exception) -> str:
        """One line: what failed and what the user can run about it."""
        error = kube_error(exc, f"lease {self.namespace}/{self.name}")
        if error.missing_namespace:
            return (
                f"{error}; or give the operator an existing namespace for its Lease "
                "(--lease-namespace, or POD_NAMESPACE), or run one replica with "
                "--no-leader-election"
            )
        if error.status == 403:
            return (
                f"{error} (the Role dockyard-operator-leader-election in the Lease's "
                "namespace); or run one replica with --no-leader-election"
            )
        return str(error)

    async def keep(self) -> None:
        """Renew until the lease is lost; return when it is (the caller must stop acting)."""
        while True:
            await asyncio.sleep(self.renew)
            try:
                if await self._try_acquire():
                    self._last_renewed = time.monotonic()
                    continue
                log.error(
                    "leader election: lease %s/%s was taken by %s",
                    self.namespace,
                    self.name,
                    self._seen[0] if self._seen and self._seen[0] else "another replica",
                )
                break
            except Conflict:
                pass
            except Exception as exc:
                log.warning("leader election: renewing: %s", self._explain(exc))
            if time.monotonic() - self._last_renewed >= self.duration - self.renew / 2:
                log.error(
                    "leader election: could not renew lease %s/%s in time",
                    self.namespace,
                    self.name,
                )
                break
        self.leading = False

    async def release(self) -> None:
        """Give the Lease up (on a clean stop), so a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        try:
            lease = await self.api.read_lease(self.namespace, self.name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            lease["spec"]["renewTime"] = now_rfc3339(micro=True)
            await self.api.replace_lease(self.namespace, self.name, lease)
            log.info("leader election: released lease %s/%s", self.namespace, self.name)
        except Exception as exc:
            log.warning("leader election: releasing: %s", self._explain(exc))

    async def _try_acquire(self) -> bool:
        now = now_rfc3339(micro=True)
        seconds = max(1, math.ceil(self.duration))
        lease = await self.api.read_lease(self.namespace, self.name)
        if lease is None:
            await self.api.create_lease(
                self.namespace,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {
                        "holderIdentity": self.identity,
                        "leaseDurationSeconds": seconds,
                        "acquireTime": now,
                        "renewTime": now,
                        "leaseTransitions": 0,
                    },
                },
            )
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        if record != self._seen:
            self._seen, self._seen_at = record, time.monotonic()
        held_for = float(spec.get("leaseDurationSeconds") or seconds)
        expired = time.monotonic() - self._seen_at >= held_for
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = seconds
        spec["renewTime"] = now
        lease["spec"] = spec
        await self.api.replace_lease(self.namespace, self.name, lease)
        self._seen = (self.identity, now, seconds)
        self._seen_at = time.monotonic()
        return True
