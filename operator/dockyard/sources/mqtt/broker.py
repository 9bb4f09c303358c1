"""How to reach the broker: `mqtt://` or `mqtts://` URLs, TLS, username/password or a
client certificate. The one place (with agent and publisher) that imports aiomqtt."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiomqtt

from .topics import DEFAULT_PREFIX


class BrokerError(ValueError):
    """A broker URL or option that cannot work; says what to write instead."""


@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    prefix: str = DEFAULT_PREFIX
    keepalive: int = 30

    def __repr__(self) -> str:  # never the password
        return f"BrokerConfig({self.display})"

    @property
    def display(self) -> str:
        """The URL without credentials, for logs and status."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"

    def client(
        self, identifier: str, will: aiomqtt.Will | None = None, in_flight: int | None = None
    ) -> aiomqtt.Client:
        """`in_flight`: QoS 1 messages sent before their PUBACK (paho's default is 20)."""
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                context.load_cert_chain(
                    str(self.cert_file), str(self.key_file) if self.key_file else None
                )
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            will=will,
            clean_session=True,
            keepalive=self.keepalive,
            tls_context=context,
            timeout=10,
            max_inflight_messages=in_flight,
        )
        if in_flight is not None:  # that many at once is the plan, not a backlog to warn of
            client.pending_calls_threshold = max(client.pending_calls_threshold, in_flight)
        return client


def broker_config(
    url: str,
    *,
    username: str | None = None,
    password_file: Path | None = None,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> BrokerConfig:
    """Parse `mqtt[s]://[user[:password]@]host[:port]`. The password may also come from
    --password-file or $DOCKYARD_MQTT_PASSWORD (better than the URL: not in `ps`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerError(
            f"--broker {_redact(url)!r}: use mqtts://HOST[:8883] (TLS) or mqtt://HOST[:1883]"
        )
    if not parts.hostname:
        raise BrokerError(f"--broker {_redact(url)!r}: no host; write mqtts://HOST[:PORT]")
    if parts.path not in ("", "/"):
        raise BrokerError(f"--broker {_redact(url)!r}: no path allowed; set --topic-prefix")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerError(f"--broker {_redact(url)!r}: the port is not a number") from None
    user = username or (unquote(parts.username) if parts.username else None)
    password = unquote(parts.password) if parts.password else None
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            raise BrokerError(f"--password-file {password_file}: {exc.strerror}") from None
    elif password is None:
        password = os.environ.get("DOCKYARD_MQTT_PASSWORD") or None
    if password is not None and user is None:
        raise BrokerError("a broker password is given without a username: set --username")
    if not tls and (ca_file or cert_file):
        raise BrokerError("--ca-file/--cert-file need an mqtts:// broker URL")
    if (cert_file is None) != (key_file is None):
        raise BrokerError("give --cert-file and --key-file together (a client certificate)")
    for name, path in (
        ("--ca-file", ca_file),
        ("--cert-file", cert_file),
        ("--key-file", key_file),
    ):
        if path is not None and not path.is_file():
            raise BrokerError(f"{name} {path}: no such file")
    if not prefix or any(c in prefix for c in "+#") or prefix.startswith("/"):
        raise BrokerError(f"--topic-prefix {prefix!r}: a topic path without +, # or leading /")
    return BrokerConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=user,
        password=password,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        prefix=prefix.rstrip("/"),
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


MqttError = aiomqtt.MqttError
Will = aiomqtt.Will
Message = aiomqtt.Message
