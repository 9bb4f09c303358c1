"""dockyard: a Kubernetes-style reconciliation operator for Docker hosts."""

__version__ = "0.1.0"
