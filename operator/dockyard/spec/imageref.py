"""Docker image references, checked with the grammar the engine parses them with.

distribution/reference (what Docker and Compose use):

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]          host: DNS name (any case) or [IPv6]
    path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator: . _ __ or -+
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex{32,}

and a name is at most 255 characters. An invalid reference would otherwise be found
only when the engine pulls it, after other services were created: it is refused when
the spec is loaded instead.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}", re.ASCII
)
NAME_MAX = 255

HINT = "write [registry[:port]/]name[:tag][@sha256:digest], e.g. apache/airflow:2.9.3"


def reference_problem(ref: str) -> str | None:
    """Why `ref` is not an image reference the engine accepts, or None when it is one."""
    if not ref:
        return "the image reference is empty"
    if ref != ref.strip():
        return f"image reference {ref!r} has spaces around it"
    rest, at, digest = ref.partition("@")
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
    if at and not _DIGEST.fullmatch(digest):
        return (
            f"image reference {ref!r}: digest {digest!r} is not algorithm:hex"
            " (e.g. sha256: and 64 hex digits)"
        )
    if tag == "":
        return f"image reference {ref!r}: the tag after ':' is empty (is a variable unset?)"
    if tag is not None and not _TAG.fullmatch(tag):
        return (
            f"image reference {ref!r}: tag {tag!r} may only hold letters, digits, _ . and -"
            " (at most 128, not starting with . or -)"
        )
    if not _NAME.fullmatch(name):
        if _NAME.fullmatch(name.lower()):
            return f"image reference {ref!r}: the repository name must be lowercase"
        return (
            f"image reference {ref!r}: name {name!r} is not [registry[:port]/]path, where each"
            " path part is lowercase letters and digits joined by . _ __ or -"
        )
    if len(name) > NAME_MAX:
        return f"image reference {ref!r}: the name is longer than {NAME_MAX} characters"
    return None
