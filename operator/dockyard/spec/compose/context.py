"""The state of one import, passed to every translator: the inputs, the names each Compose
object got, and what was reported (errors, dropped keys, notes); and the service being
translated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FieldError, SpecError
from .report import ImportNote, UnsupportedKey

if TYPE_CHECKING:
    from .configs import ConfigDef


class Importer:
    def __init__(
        self,
        files: list[Path],
        environ: Mapping[str, str] | None,
        env_files: list[Path] | None,
        profiles: list[str] | None,
        project_name: str | None,
    ) -> None:
        self.files = [Path(f) for f in files]
        self.base_dir = self.files[0].resolve().parent
        # Not copied: each variable asked for is then one lookup (cli/input_record.py).
        self.process_env: Mapping[str, str] = os.environ if environ is None else environ
        self.env_files = [Path(p) for p in env_files or []]
        self.profiles = profiles
        self.project_name = project_name
        self.source = ", ".join(str(f) for f in self.files)
        self.errors: list[FieldError] = []
        self.warnings: list[UnsupportedKey] = []
        self.notes: list[ImportNote] = []
        self.env: Mapping[str, str] = {}
        self.unset_reported: set[str] = set()
        # Original Compose name -> manifest name, per kind.
        self.svc_names: dict[str, str] = {}
        self.vol_names: dict[str, str] = {}
        self.net_names: dict[str, str] = {}
        self.sec_names: dict[str, str] = {}
        self.cfg_defs: dict[str, ConfigDef] = {}

    def error(self, path: str, message: str, hint: str = "", source: str | None = None) -> None:
        self.errors.append(
            FieldError(path, message, hint, self.source if source is None else source)
        )

    def unsupported(self, path: str, reason: str) -> None:
        self.warnings.append(UnsupportedKey(path, reason))

    def note(self, path: str, message: str) -> None:
        self.notes.append(ImportNote(path, message))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(self.errors)


@dataclass
class ServiceCtx:
    """One service being translated: its Compose name and path, and the manifest so far."""

    raw: str
    path: str
    out: dict[str, Any]
    replicas: Any = None
    deploy_restart: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    legacy_resources: dict[str, Any] = field(default_factory=dict)
