"""The data directory: where everything writable lives (`/data` on the box, `./var` on a development host).

Layout:
    pbx.sqlite3          the database (plus its -wal/-shm files)
    tls/server.crt, tls/server.key   the box's certificate (self-signed until an admin uploads one)
    run/control.sock     pbxd's control socket
    run/pbxd.lock        held (flock) by the one pbxd that owns this directory; contains its pid
    logs/  voicemail/  recordings/
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import ipaddress
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

CERT_VALIDITY_DAYS = 3650
#: Always in the certificate, so that local tools and tests can verify it by name or loopback address.
DEFAULT_SANS = ("localhost", "127.0.0.1", "::1")


class DataDirLocked(ApplianceError):
    """Another pbxd already owns this data directory."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "a process whose pid could not be read"
        super().__init__(f"data directory {path} is already in use by another pbxd ({holder})")
        self.path = path
        self.pid = pid


class DataDirError(ApplianceError):
    """The data directory cannot be created or used (permissions, not a directory …)."""


class DaemonLock:
    """An exclusive flock on run/pbxd.lock; released by `release()` or when the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def release(self) -> None:
        """Give the directory up (the pid stays in the file; only the lock matters)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificate and key are, and whether this call created them."""

    cert: Path
    key: Path
    created: bool


class DataDir:
    """Paths inside one data directory, plus the operations that must be done right (lock, TLS files)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self._lock: DaemonLock | None = None

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r})"

    @property
    def database_path(self) -> Path:
        return self.path / "pbx.sqlite3"

    @property
    def tls_dir(self) -> Path:
        return self.path / "tls"

    @property
    def tls_cert_path(self) -> Path:
        return self.tls_dir / "server.crt"

    @property
    def tls_key_path(self) -> Path:
        return self.tls_dir / "server.key"

    @property
    def run_dir(self) -> Path:
        return self.path / "run"

    @property
    def control_socket_path(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def lock_path(self) -> Path:
        return self.run_dir / "pbxd.lock"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def voicemail_dir(self) -> Path:
        return self.path / "voicemail"

    @property
    def recordings_dir(self) -> Path:
        return self.path / "recordings"

    def exists(self) -> bool:
        """True when the directory and its database exist (initialised at least once)."""
        return self.database_path.exists()

    def create(self) -> None:
        """Create the directory tree (idempotent). The TLS directory is private to the owner."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for sub in (self.run_dir, self.logs_dir, self.voicemail_dir, self.recordings_dir):
                sub.mkdir(mode=0o750, exist_ok=True)
            self.tls_dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as err:
            raise DataDirError(f"cannot create data directory {self.path}: {err.strerror}") from err

    # -- the daemon lock -------------------------------------------------------------------------------

    @property
    def lock(self) -> DaemonLock | None:
        """The lock this object holds, if any (so the daemon can check the CLI took it)."""
        return self._lock if self._lock is not None and self._lock.held else None

    def acquire_daemon_lock(self) -> DaemonLock:
        """Take the directory for this process; raises DataDirLocked naming the holder's pid.

        Idempotent on the same DataDir object (the CLI takes the lock, then hands the object to pbxd);
        any other object, in this process or another, is refused while the lock is held.
        """
        if self.lock is not None:
            return self._lock  # type: ignore[return-value]
        self.create()
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise DataDirError(f"cannot open {self.lock_path}: {err.strerror}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DataDirLocked(self.path, _read_pid(self.lock_path)) from err
            raise DataDirError(f"cannot lock {self.lock_path}: {err.strerror}") from err
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._lock = DaemonLock(self.lock_path, fd)
        return self._lock

    # -- TLS -------------------------------------------------------------------------------------------

    def ensure_tls_certificate(
        self, hostnames: Iterable[str] = (), *, now: datetime.datetime | None = None
    ) -> TlsFiles:
        """Create a self-signed EC P-256 certificate and key unless a matching pair is already there.

        SANs: localhost, 127.0.0.1, ::1 and `hostnames` (names or IP addresses). An existing pair that
        loads and matches is kept as it is (an administrator may have installed a real certificate); a
        missing, unreadable or mismatched pair is replaced. Files are written atomically; key mode 0600.
        """
        self.create()
        cert_path, key_path = self.tls_cert_path, self.tls_key_path
        if cert_path.exists() and key_path.exists():
            problem = _check_pair(cert_path.read_bytes(), key_path.read_bytes())
            if problem is None:
                return TlsFiles(cert_path, key_path, created=False)
            log.warning("replacing the TLS certificate in %s: %s", self.tls_dir, problem)
        hostnames = [h.strip() for h in hostnames if h and h.strip()]
        cert_pem, key_pem = _self_signed(
            hostnames, now=now or datetime.datetime.now(datetime.timezone.utc), days=CERT_VALIDITY_DAYS
        )
        # Key first: a crash between the two renames leaves a mismatched pair, detected and replaced above.
        atomic_write(key_path, key_pem, mode=0o600)
        atomic_write(cert_path, cert_pem, mode=0o644)
        log.info("created a self-signed TLS certificate for %s", ", ".join([*DEFAULT_SANS, *hostnames]))
        return TlsFiles(cert_path, key_path, created=True)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` so that `path` holds either its old content or all of the new: temp, fsync, rename."""
    directory = path.parent
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _subject_alt_names(names: Iterable[str]) -> list[Any]:
    """x509 GeneralNames: IP addresses as IPAddress, everything else as DNSName; duplicates dropped."""
    from cryptography import x509  # noqa: PLC0415 - slow import, needed on first start only

    entries: list[Any] = []
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _self_signed(hostnames: list[str], *, now: datetime.datetime, days: int) -> tuple[bytes, bytes]:
    """A self-signed server certificate for DEFAULT_SANS + `hostnames` and its PKCS#8 key, both PEM."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    sans = _subject_alt_names([*DEFAULT_SANS, *hostnames])
    common_name = next((n for n in hostnames if not _is_ip(n)), "pbx.local")[:64]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IP-PBX appliance (self-signed)"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # tolerate a client clock slightly behind
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_agreement=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _check_pair(cert_pem: bytes, key_pem: bytes) -> str | None:
    """None when the certificate and key load and belong together, else what is wrong."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        return f"cannot load the certificate or key ({err})"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        return "the key does not match the certificate"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
