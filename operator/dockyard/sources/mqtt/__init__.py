"""Edge fleets over MQTT: `dockyard agent` on each device, the publisher in `dockyard run`.

Only the modules that talk to a broker (`broker`, `agent`, `publisher`) import aiomqtt;
topics, payloads, state on disk and the update gates are plain Python.
"""
