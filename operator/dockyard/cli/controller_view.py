"""`dockyard status` as a running controller sees it."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from .common import Format, console, errors, escape, fail


def controller_status(url: str, explicit: bool) -> dict[str, Any] | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=2) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if explicit:
            errors.print(f"[yellow]warning:[/] no controller at {url} ({exc}); showing the engine")
        return None
    return dict(data)


def show_controller_status(statuses: dict[str, Any], app_name: str | None, output: Format) -> None:
    if app_name is not None:
        if app_name not in statuses:
            raise fail(f"the controller has no app named {app_name}")
        statuses = {app_name: statuses[app_name]}
    if output is Format.json:
        console.print_json(json.dumps(statuses))
        return
    if not statuses:
        console.print("the controller manages no apps")
    for name, st in statuses.items():
        conds = {c["type"]: c for c in st.get("conditions", [])}
        ready = conds.get("Ready", {}).get("status", "Unknown")
        console.print(
            f"app {name}  ready={ready}  revision={st.get('revision', '')[:12] or '-'}  "
            f"synced={st.get('observedGeneration', '')[:12] or '-'}  "
            f"restarts={st.get('restarts', 0)}  drift-repairs={st.get('driftRepairs', 0)}"
        )
        for ctype in ("Ready", "Progressing", "Degraded"):
            cond = conds.get(ctype)
            if cond:
                detail = f" {cond['reason']}" + (f": {cond['message']}" if cond["message"] else "")
                console.print(f"  {ctype}={cond['status']}{escape(detail)}")
        table = Table(box=None, pad_edge=False)
        for col in ("SERVICE", "DESIRED", "RUNNING", "HEALTHY", "RESTARTS"):
            table.add_column(col, no_wrap=True)
        for svc in st.get("services", []):
            table.add_row(
                svc["name"],
                str(svc["desired"]),
                str(svc["running"]),
                str(svc["healthy"]),
                str(svc["restarts"]),
            )
        console.print(table)
        placement = st.get("placement") or {}
        if len(placement) > 1 or (placement and "local" not in placement):
            for host_name, names in sorted(placement.items()):
                console.print(f"  on {host_name}: {', '.join(names)}")
        if st.get("lastError"):
            console.print(f"  last error: {escape(st['lastError'])}")
