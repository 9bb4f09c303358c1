"""Where desired state comes from and status goes to: folders, git repositories,
Kubernetes (the kopf operator) and MQTT (the publisher, and the edge agent). Each is a
`dockyard.controller.Source`."""
