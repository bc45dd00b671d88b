"""The TLS listener's certificate: the configured one, or a self-signed one kept in the data dir.

The self-signed certificate is its own CA (devices trust it by using the file as their CA
certificate, e.g. paho's `tls_set(ca_certs=...)` or `mosquitto_pub --cafile`), names the public host,
localhost and the loopback addresses, and is replaced when it expires within a month or names another
host.
"""

import datetime
import ipaddress
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

if TYPE_CHECKING:
    from cloudsignal.broker.config import BrokerOptions

CERT_NAME = "broker-cert.pem"
KEY_NAME = "broker-key.pem"
VALID_DAYS = 825


def self_signed_paths(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / CERT_NAME, data_dir / KEY_NAME


def ensure_self_signed(data_dir: Path, public_host: str) -> tuple[Path, Path]:
    """The data dir's self-signed certificate and key, made (or renewed) if needed."""
    cert_path, key_path = self_signed_paths(data_dir)
    if _still_good(cert_path, key_path, public_host):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([public_host, "localhost", "127.0.0.1", "::1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, public_host[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudSignal self-signed"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # CA:TRUE so clients can use this very file as their trusted CA (Python's strict X.509 checks
        # also want key usage and key identifiers on a CA).
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key is written 0600 before it holds anything.
    key_path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _still_good(cert_path: Path, key_path: Path, public_host: str) -> bool:
    if not cert_path.exists() or not key_path.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    listed = {str(n) for n in names.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in names.get_values_for_type(x509.IPAddress)
    }
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    return public_host in listed and cert.not_valid_after_utc > soon


def context_for(options: "BrokerOptions") -> ssl.SSLContext | None:
    """The TLS context of the broker's TLS listeners, or None without one. With no certificate
    configured, the data dir's self-signed one is made (or renewed) and recorded in `options`."""
    if not any(listener.tls for listener in options.listeners):
        return None
    if options.tls_cert is None or options.tls_key is None:
        options.tls_cert, options.tls_key = ensure_self_signed(settings.DATA_DIR, settings.PUBLIC_HOST)
    return server_context(options.tls_cert, options.tls_key)


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
