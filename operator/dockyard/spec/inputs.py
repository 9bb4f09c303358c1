"""Content-addressed inputs: what a container reads besides its config (secrets, config
files), hashed so a change in their content is noticed and acted on per `onChange`.

A hash must be the same from every machine that applies the spec (a laptop, CI, a
restarted controller with a new state folder, the other operator replica), or each of
them would plan a replacement of every container that has a secret. So nothing
per-machine goes in: a secret's hash is a slow salted hash of its value (PBKDF2, salted
with the app and the secret's name), so the hash that shows in a label or in `diff`
makes guessing a weak secret expensive; a watched file's is its content digest (files
are not secret). Anyone who can read the label can read the container's secret file
anyway (engine access is root on that host).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

# Folders are hashed by their files' contents up to this many bytes, then by size and mtime.
CONTENT_LIMIT = 4 * 1024 * 1024
# PBKDF2 rounds for a secret's hash: ~30 ms once per value and process (cached).
SECRET_ROUNDS = 100_000


@lru_cache(maxsize=4096)
def secret_hash(app: str, name: str, value: bytes) -> str:
    """A short hash of a secret's value: equal values give equal hashes on every machine,
    and each guess at the value costs SECRET_ROUNDS rounds of HMAC-SHA256."""
    salt = f"dockyard.dev/secret/{app}/{name}".encode()
    return hashlib.pbkdf2_hmac("sha256", value, salt, SECRET_ROUNDS).hex()[:16]


def file_hash(digest: bytes) -> str:
    """A short hash of a watched file's (or folder's) content digest."""
    return digest.hex()[:16]


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
