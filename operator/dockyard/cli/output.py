"""How the CLI shows operations as they run: one line each, spinners for long ones."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from dockyard.apply.executor import ApplyResult, OpResult
from dockyard.plan.operations import Kind, Operation

from .common import real_console

LONG = {
    Kind.PULL_IMAGE,
    Kind.BUILD_IMAGE,
    Kind.MISSING_IMAGE,  # copied from another engine: progress in MB
    Kind.WAIT_HEALTHY,
    Kind.WAIT_COMPLETED,
    Kind.MONITOR_CONTAINER,  # a rollout's monitor window
}
MAX_LINES = 8  # lines under one operation's progress (a pull's layers)
MARK = {"done": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]"}


class ConsoleReporter:
    """Prints each finished operation with its cause; long ones get a live progress line."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        console = real_console(console)  # rich's Live wants the Console itself
        self.console = console
        self.quiet = quiet
        self._lock = threading.Lock()
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._live = False

    def __enter__(self) -> ConsoleReporter:
        self._live = self.console.is_terminal and not self.quiet
        if self._live:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:  # stopping a display never started would print an empty line
            self._bar.stop()

    def started(self, op: Operation) -> None:
        if op.kind in LONG and not self.quiet:
            with self._lock:
                self._tasks[op.id] = self._bar.add_task(op.describe(), total=None)
            if not self.console.is_terminal:
                self.console.print(f"  … {op.describe()}", highlight=False)

    def progress(self, op: Operation, message: str) -> None:
        task = self._tasks.get(op.id)
        if task is not None:
            # The first line beside the operation; a pull's further lines (a bar per
            # layer under way) below it, as `docker pull` draws them.
            first, *more = message.splitlines() or [""]
            below = "".join(f"\n      [dim]{escape(line[:90])}[/]" for line in more[:MAX_LINES])
            self._bar.update(
                task, description=f"{op.describe()}  [dim]{escape(first[:60])}[/]{below}"
            )

    def finished(self, result: OpResult) -> None:
        task = self._tasks.pop(result.op.id, None)
        if task is not None:
            self._bar.remove_task(task)
        if self.quiet and result.status == "done":
            return
        op = result.op
        line = f"  {MARK[result.status]} {op.describe()}"
        if result.status == "done":
            note = f"; {escape(result.note)}" if result.note else ""
            line += f"  [dim]{result.seconds:.2f}s — {op.cause}{note}[/]"
        elif result.error:
            line += f"\n      [red]{escape(result.error)}[/]"
        self.console.print(line, highlight=False)


def summary(console: Console, result: ApplyResult) -> None:
    done = sum(1 for r in result.results if r.status == "done")
    failed = len(result.failed)
    skipped = len(result.skipped)
    colour = "green" if result.ok else "red"
    console.print(
        f"[{colour}]{done} done, {failed} failed, {skipped} skipped[/] in {result.seconds:.2f}s",
        highlight=False,
    )


def escape(text: str) -> str:
    return text.replace("[", r"\[")
