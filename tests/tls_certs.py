"""Certificates for mutual-TLS tests, made with the `openssl` command (no extra package)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CA:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> CA:
    """A self-signed CA (EC P-256, one day)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = CA(folder / f"{name}-ca.pem", folder / f"{name}-ca-key.pem")
    _openssl(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-keyout", ca.key, "-out", ca.cert,
        "-days", "1", "-subj", f"/CN={name} test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return ca


def issue(
    ca: CA, folder: Path, name: str, server: bool, ips: Sequence[str] = ("127.0.0.1",)
) -> Pair:
    """A leaf certificate signed by `ca`: a server one (SAN `ips`, DNS:localhost) or a
    client one."""
    pair = Pair(folder / f"{name}.pem", folder / f"{name}-key.pem")
    csr = folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if server:
        names = ",".join(f"IP:{ip}" for ip in ips)
        lines.append(f"subjectAltName={names},DNS:localhost")
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", pair.key, "-out", csr, "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
        "-out", pair.cert, "-days", "1", "-extfile", ext,
    )  # fmt: skip
    return pair
