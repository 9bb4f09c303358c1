"""The status page: the fleet at a glance, served on the control port (docs/status-page.md).

Plain HTML, CSS and JavaScript shipped in the package (static/), no build step and
nothing loaded from the network; the data comes from what the controller already holds.
"""

from .server import SECURITY_HEADERS, StatusPage, owns

__all__ = ["SECURITY_HEADERS", "StatusPage", "owns"]
