"""Content-addressed inputs: what a container reads besides its config (secrets, config
files), hashed so a change in their content is noticed and acted on per `onChange`.

Hashes of secrets end up in container labels, so they are keyed (HMAC-SHA256 with a
random key kept on the dockyard host, mode 0600): a label never lets anyone test guesses
of a secret's value. The key lives in `$DOCKYARD_INPUT_KEY` (a file path) or
`/var/lib/dockyard/input.key`, made on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

DEFAULT_KEY_FILE = Path("/var/lib/dockyard/input.key")
# Folders are hashed by their files' contents up to this many bytes, then by size and mtime.
CONTENT_LIMIT = 4 * 1024 * 1024

_key: bytes | None = None


def _key_file() -> Path:
    return Path(os.environ.get("DOCKYARD_INPUT_KEY", DEFAULT_KEY_FILE))


def input_key() -> bytes:
    global _key
    if _key is None:
        path = _key_file()
        try:
            _key = path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = secrets.token_bytes(32)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # made by another dockyard meanwhile
                _key = path.read_bytes()
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(fresh)
                _key = fresh
    return _key


def keyed(data: bytes) -> str:
    """A short keyed hash of `data`: equal contents give equal hashes, and it says nothing
    about the content to anyone without the key."""
    return hmac.new(input_key(), data, hashlib.sha256).hexdigest()[:16]


def path_digest(path: Path) -> bytes:
    """A digest of a file's content, or of a folder's files (names and contents)."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.digest()
    budget = CONTENT_LIMIT
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            file = Path(root) / name
            try:
                st = file.stat()
            except OSError:
                continue
            h.update(str(file.relative_to(path)).encode() + b"\0")
            if st.st_size <= budget:
                budget -= st.st_size
                try:
                    h.update(file.read_bytes())
                except OSError:
                    continue
            else:
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.digest()
