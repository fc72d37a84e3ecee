"""The box's TLS certificate: what the admin page shows about it, and installing an uploaded one.

The pair is checked (loads, key matches, not expired) before anything is written; the key is written
first (0600), then the certificate, each atomically, as `DataDir.ensure_tls_certificate` does, so a crash
in between leaves a mismatched pair that the next start replaces rather than a half-written file.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from appliance.datadir import DataDir, atomic_write
from appliance.store.exceptions import InvalidValue

MAX_PEM_BYTES = 64 * 1024


def describe(path: Path) -> dict[str, Any] | None:
    """Subject, issuer, names and validity of the certificate at `path` (None when unreadable)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in sans.get_values_for_type(x509.DNSName)]
        names += [str(v) for v in sans.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    subject = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "subject": subject[0].value if subject else cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "self_signed": cert.issuer == cert.subject,
        "names": names,
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
    }


def install(datadir: DataDir, cert_pem: bytes, key_pem: bytes, *, now: datetime.datetime | None = None) -> None:
    """Replace the box certificate; raises InvalidValue ("cert" or "key") when the pair is unusable."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as err:
        raise InvalidValue("cert", f"not a PEM certificate ({err})") from err
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise InvalidValue("key", f"not an unencrypted PEM private key ({err})") from err
    spki, der = serialization.PublicFormat.SubjectPublicKeyInfo, serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise InvalidValue("key", "this key does not belong to the certificate")
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    if cert.not_valid_after_utc <= moment:
        raise InvalidValue("cert", "the certificate has expired")
    datadir.create()
    atomic_write(datadir.tls_key_path, key_pem, mode=0o600)
    atomic_write(datadir.tls_cert_path, cert_pem, mode=0o644)
