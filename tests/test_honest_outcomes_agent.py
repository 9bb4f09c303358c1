"""Honest outcomes, an MQTT agent (issue 16): each failure of tests/honest_cases.py reaches
an agent (real Mosquitto, its desired state published as the controller publishes it) and
the agent's status report (its retained status topic) says converged: false, with the app's
Degraded condition and reason, or the payload's rejection with the reason; never converged.

- host-dark: the device's own dockerd is stopped (an agent runs on its host: what is dark
  for it is its engine); the controller's view of an agent that is gone is its `online`;
- secret-missing: the payload names a secret it carries no value for (the publisher could
  not read it): the payload is rejected, naming the secret;
- engine-restarting: the device's dockerd is stopped while the app waits on its db's
  health, and started again: the agent reports it, then converges honestly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

import manifests
from honest_cases import (
    FAILURES,
    MISSING_IMAGE,
    ON_TEST_HOST,
    failing_spec,
    failure_host,
    port_held,
    wait_running,
)
from mqtt_fixtures import Broker, broker, publish, retained, run_agent
from waiting import eventually

__all__ = ["broker"]

pytestmark = pytest.mark.engine

AGENT = "edge-1"

#: (Degraded reason, words of its message) in the agent's report; reason None: rejected.
AGENT_SAYS: dict[str, tuple[str | None, str]] = {
    "image-missing": ("OperationFailed", f"image {MISSING_IMAGE} is not on engine"),
    "port-taken": ("OperationFailed", "address already in use"),
    "healthcheck-failing": ("Unhealthy", "{app}-web-1 is unhealthy"),
    "container-exiting": ("ContainerFailed", "{app}-web-1 exited (exit code 3)"),
    "host-dark": ("ReconcileError", "engine local is not reachable"),
    "engine-restarting": ("ReconcileError", "engine local is not reachable"),
    "secret-missing": (None, "token"),
    "disk-full": ("OperationFailed", "no space left on device"),
}


def _payload(app: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "dockyard.dev/v1alpha1",
        "kind": "AgentDesiredState",
        "agent": AGENT,
        "revision": 1,
        "apps": [app],
        "secrets": {},
    }


async def _status(broker: Broker) -> dict[str, Any]:
    got = await retained(broker, "controller", f"dockyard/agents/{AGENT}/status", 1.0)
    return dict(json.loads(got[-1])) if got else {}


def _degraded(report: dict[str, Any], app: str) -> tuple[str, str, str]:
    for c in (report.get("apps", {}).get(app) or {}).get("conditions", []):
        if c["type"] == "Degraded":
            return c["status"], c.get("reason", ""), c.get("message", "")
    return "", "", ""


@pytest.mark.parametrize("failure", FAILURES)
async def test_agent_reports_the_failure_never_converged(
    failure: str, broker: Broker, app_name: str, tmp_path: Path
) -> None:
    reason, words = AGENT_SAYS[failure]
    words = words.format(app=app_name)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(port_held()) if failure == "port-taken" else 0
        engine = stack.enter_context(failure_host(failure)) if failure in ON_TEST_HOST else None
        services, spec = failing_spec(failure, port)
        if failure == "secret-missing":
            spec["secrets"] = [{"name": "token"}]  # as published, with no value for it
        topic = f"dockyard/agents/{AGENT}/desired"
        await publish(
            broker, "controller", topic, _payload(manifests.app(app_name, services, **spec))
        )
        if failure == "host-dark":
            assert engine is not None
            engine.stop()
        url = engine.url if engine is not None else None
        async with run_agent(broker, AGENT, tmp_path / "agent", engine_url=url) as agent:
            if failure == "engine-restarting":
                assert engine is not None
                await asyncio.to_thread(wait_running, engine, f"{app_name}-db-1")
                await asyncio.to_thread(engine.stop)

            def told() -> bool:
                report = agent.report()
                if reason is None:
                    assert words in str((report["rejected"] or {}).get("error")), report
                else:
                    got = _degraded(report, app_name)
                    assert got[:2] == ("True", reason), f"Degraded is {got}"
                    assert words in got[2], got
                return True

            await eventually(told, timeout=60)
            assert not agent.converged

            async def published() -> dict[str, Any]:
                for _ in range(20):
                    report = await _status(broker)
                    if (
                        report
                        and not report["converged"]
                        and (report.get("rejected") or _degraded(report, app_name)[0] == "True")
                    ):
                        return report
                raise AssertionError(f"not in the status topic: {report}")

            report = await published()
            assert report["converged"] is False
            if failure == "engine-restarting":
                assert engine is not None
                await asyncio.to_thread(engine.start)  # back: it converges, honestly
                await eventually(lambda: agent.converged, timeout=60)
