"""Many hosts: the DockerHost inventory and how each engine is reached."""
