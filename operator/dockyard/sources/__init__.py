"""Where desired state comes from: folders, git repositories (and later Kubernetes, MQTT)."""
