"""Revisions and pins: what to run (the source's spec, or a revision a rollback pinned),
the history entry of what is applied, what a rollout's outcome does to the history,
bad-image holds, and the rollout part of an app's status. Functions over the history."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from dockyard.apply.rollout import RolloutOutcome
from dockyard.plan.desired import DesiredApp, desired_app, fingerprint
from dockyard.plan.images import image_moved
from dockyard.spec.load import LoadedApp
from dockyard.spec.models import App
from dockyard.state.observed import ObservedState

from .history import AppHistory, HistoryStore, Pin, Revision
from .intake import Wanted
from .status import AppStatus

log = logging.getLogger("dockyard.controller")

_STOPPED_OUTCOME = {"rollback": "rolled-back", "pause": "paused", "halt": "halted"}
_PINNED_REASON = {
    "rolled-back": "RolledBack",
    "paused": "RolloutPaused",
    "halted": "WaveHalted",
    "failed": "RolloutFailed",
}


def image_only(outcome: RolloutOutcome) -> bool:
    """Every container that failed was being rolled only because its image tag moved."""
    moved = {n for n, c in outcome.causes.items() if c.startswith("image ") and " moved to " in c}
    return bool(outcome.failed) and set(outcome.failed) <= moved


def build_tags_of(desired: DesiredApp) -> dict[str, str]:
    """service -> the content-hash tag its build produced (to run it again on rollback)."""
    return {c.service: c.build.tag for c in desired.containers if c.build is not None}


def target(store: HistoryStore, name: str, wanted: Wanted) -> tuple[Wanted, Pin | None]:
    """What to run: what the source wants, unless a rollback pinned another revision
    for exactly this spec (revision 0 = paused: keep what runs, roll no further)."""
    history = store.get(name)
    pin = history.pin
    if pin is None:
        return wanted, None
    if pin.for_fingerprint != fingerprint(wanted.desired):
        log.info("app %s: the spec changed; the pin to revision %s is dropped", name, pin.revision)
        history.pin = None
        store.save(name)
        return wanted, None
    if pin.revision == 0:
        return wanted, pin
    rev = history.get(pin.revision)
    if rev is None:
        history.pin = None
        store.save(name)
        return wanted, None
    try:
        return wanted_from(wanted, rev), pin
    except Exception as exc:  # a stored revision that no longer loads: say so, run the spec
        log.error("app %s: revision %d cannot be restored: %s", name, rev.number, exc)
        history.pin = None
        store.save(name)
        return wanted, None


def wanted_from(wanted: Wanted, rev: Revision) -> Wanted:
    """The app as revision `rev` had it, with today's secrets and watched files."""
    app = App.model_validate(rev.app)
    loaded = LoadedApp(
        app=app,
        source=wanted.loaded.source,
        base_dir=Path(rev.base_dir),
        env={k: tuple((a, b) for a, b in v) for k, v in rev.env.items()},
        # A revision keeps no content: its secrets and watched files are today's.
        secrets=wanted.loaded.secrets,
        files=wanted.loaded.files,
        manifest_paths=wanted.loaded.manifest_paths,
    )
    return Wanted(loaded, desired_app(loaded, rev.build_tags), wanted.source, wanted.revision)


def revision_for(
    store: HistoryStore, name: str, wanted: Wanted, pin: Pin | None
) -> Revision | None:
    """The history entry of what is being applied now (added when new)."""
    history = store.get(name)
    if pin is not None:
        return history.get(pin.revision) if pin.revision else history.latest()
    fp = fingerprint(wanted.desired)
    latest = history.latest()
    if latest is not None and latest.fingerprint == fp:
        return latest
    loaded = wanted.loaded
    return store.add(
        name,
        fp,
        wanted.source,
        wanted.revision,
        loaded.app.model_dump(mode="json", by_alias=True, exclude_none=True),
        {k: [list(p) for p in v] for k, v in loaded.env.items()},
        dict(build_tags_of(wanted.desired)),
        str(loaded.base_dir),
    )


def after_rollout(
    store: HistoryStore,
    name: str,
    status: AppStatus,
    source_wanted: Wanted,
    wanted: Wanted,
    pin: Pin | None,
    revision: Revision | None,
    outcomes: list[RolloutOutcome],
) -> bool:
    """Record what this reconcile's rollout came to (complete, rolled back, paused,
    halted, failed) and pin the app when it stopped; updates the rollout status. True
    when the app should be reconciled again at once (to the revision rolled back to)."""
    history = store.get(name)
    failed = [o for o in outcomes if o.failed]
    halted = next((o.halted for o in outcomes if o.halted), "")
    stopped = "halt" if halted else next((o.action for o in outcomes if o.action), "")
    applied = all(o.applied for o in outcomes)
    again = False
    if revision is None:
        ready = status.condition("Ready")
        if not outcomes and pin is None and ready is not None and ready.status == "True":
            # Nothing to do: what runs is what the source wants. Adopt it as a revision
            # once, so a later bad rollout has something to go back to.
            fp = fingerprint(wanted.desired)
            current = history.get(history.current) if history.current else None
            if current is None or current.fingerprint != fp:
                rev = revision_for(store, name, wanted, None)
                if rev is not None:
                    rev.outcome = "complete"
                    history.current = rev.number
                    store.save(name)
    elif not failed and not stopped:
        if applied:
            if pin is None or pin.revision == 0:
                revision.outcome = "complete" if pin is None else revision.outcome
                revision.message = ""
            history.current = revision.number if pin is None else (pin.revision or history.current)
            store.save(name)
    elif failed and not halted and all(image_only(o) for o in failed):
        # Only a moved tag failed: the spec's revision is fine and its old containers
        # run again; note_bad_images keeps them until the tag moves again.
        pass
    else:
        if pin is None:
            again = _pin_after(store, name, source_wanted, revision, outcomes, stopped)
        pin = history.pin
    rollout_status(status, history, pin)
    return again


def _pin_after(
    store: HistoryStore,
    name: str,
    source_wanted: Wanted,
    revision: Revision,
    outcomes: list[RolloutOutcome],
    stopped: str,
) -> bool:
    """A rollout that stopped or failed is never retried while the spec stays the same:
    pinned to the previous good revision (rollback), or to what runs now (revision 0:
    pause, or nothing older). True when there is a revision to converge back to."""
    history = store.get(name)
    halted = next((o.halted for o in outcomes if o.halted), "")
    message = halted or "; ".join(o.message() for o in outcomes if o.failed and o.message())
    fp = fingerprint(source_wanted.desired)
    if not stopped:
        revision.outcome = "failed"
        revision.message = message
        history.pin = Pin(fp, 0, f"revision {revision.number} failed: {message}")
        store.save(name)
        log.warning("app %s: %s", name, message)
        return False
    previous = history.previous_good(revision.number) if stopped == "rollback" else None
    reverted = any(o.reverted for o in outcomes)
    revision.outcome = _STOPPED_OUTCOME.get(stopped, "failed")
    if stopped == "rollback" and not reverted and previous is None:
        revision.outcome = "failed"
    revision.message = message
    reason = f"revision {revision.number} failed: {message}"
    history.pin = Pin(fp, previous.number if previous else 0, reason)
    store.save(name)
    log.warning(
        "app %s: rollout of revision %d stopped (%s): %s",
        name,
        revision.number,
        revision.outcome,
        message,
    )
    # Converge to the previous revision (if not already there).
    return previous is not None


def bad_image_holds(
    store: HistoryStore, name: str, desired: DesiredApp, observed: ObservedState
) -> set[str]:
    """Containers whose tag moved to an image that already failed its rollout: held on
    their old image until the tag moves again (then the entry is forgotten)."""
    history = store.get(name)
    if not history.bad_images:
        return set()
    held: set[str] = set()
    for d in desired.containers:
        bad = history.bad_images.get(d.config.image)
        obs = observed.container_named(d.name)
        if bad is None or obs is None:
            continue
        if observed.image_id(d.config.image) == bad["id"] and image_moved(d, obs, observed):
            held.add(d.name)
    wanted = {d.config.image for d in desired.containers}
    for image, bad in list(history.bad_images.items()):
        current = observed.image_id(image)
        if image not in wanted or (current is not None and current != bad["id"]):
            log.info("app %s: image %s moved again; it may roll out", name, image)
            del history.bad_images[image]
            store.save(name)
    return held


def note_bad_images(
    store: HistoryStore,
    name: str,
    desired: DesiredApp,
    state: ObservedState,
    outcome: RolloutOutcome,
) -> None:
    """A rollout that failed because a tag moved to a bad image: remember the image, so
    its containers keep their old one instead of being rolled again and again."""
    if not outcome.failed or not outcome.action:
        return
    by_name = {d.name: d for d in desired.containers}
    if not image_only(outcome):
        return
    history = store.get(name)
    for container, why in outcome.failed.items():
        image = by_name[container].config.image
        image_id = state.image_id(image)
        if image_id:
            history.bad_images[image] = {"id": image_id, "reason": f"{container}: {why}"}
    store.save(name)


def rollout_status(status: AppStatus, history: AppHistory, pin: Pin | None) -> None:
    """The app's revision, its last rollout's story, and Degraded while pinned or while
    an image is held back."""
    status.appRevision = history.current
    latest = history.latest()
    info: dict[str, Any] = {}
    if latest is not None:
        info = {"revision": latest.number, "phase": latest.outcome}
        if latest.message:
            info["message"] = latest.message
    if pin is not None:
        info["message"] = pin.reason
        if pin.revision:
            info["pinnedTo"] = pin.revision
        outcome = latest.outcome if latest is not None else ""
        reason = _PINNED_REASON.get(outcome)
        if reason is not None:
            where = f"revision {pin.revision}" if pin.revision else "the containers that ran"
            status.set_condition(
                "Degraded",
                "True",
                reason,
                f"{pin.reason}; running {where} until the spec changes",
            )
    if history.bad_images:
        image, bad = next(iter(history.bad_images.items()))
        status.set_condition(
            "Degraded",
            "True",
            "ImageRolledBack",
            f"image {image} moved to {bad['id'][:19]}, whose rollout failed "
            f"({bad['reason']}); the old containers keep running until the tag moves again",
        )
        info["badImages"] = dict(history.bad_images)
    status.rollout = info


def rollback(store: HistoryStore, name: str, wanted: Wanted, to: int | None) -> str:
    """Pin the app to an earlier revision until its spec changes. Returns what was done;
    raises ValueError with what to do instead."""
    history = store.get(name)
    chosen = history.rollback_target(name, to)
    fp = fingerprint(wanted.desired)
    if chosen.fingerprint == fp:
        history.pin = None
        message = f"app {name}: revision {chosen.number} is what the source wants; pin cleared"
    else:
        history.pin = Pin(fp, chosen.number, f"rollback to revision {chosen.number} requested")
        message = f"app {name}: rolling back to revision {chosen.number}"
    store.save(name)
    return message
