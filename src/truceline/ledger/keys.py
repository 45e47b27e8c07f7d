"""The monitor's Ed25519 signing key, in two files.

`PATH` holds the private key (PKCS #8 PEM, unencrypted, mode 0600); `PATH.pub` the public key as
one line of base64 of its 32 raw bytes, the same form as a sensor's `public_key` (contract
section 2). The public key is what outsiders need to check signed tree heads; its `key_id` is
the hex SHA-256 of the 32 raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from truceline.errors import UsageError

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "init_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_b64",
    "public_key_from_b64",
    "public_path",
    "verify_signature",
]


def public_path(private: str | os.PathLike[str]) -> Path:
    """Where the public key of the private key file `private` is kept: beside it, `.pub`."""
    path = Path(private)
    return path.with_name(path.name + ".pub")


def public_key_b64(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Base64 of the 32 raw bytes of the public key."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Hex SHA-256 of the 32 raw bytes of the public key."""
    return hashlib.sha256(base64.b64decode(public_key_b64(key))).hexdigest()


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """The public key from base64 of its 32 raw bytes; ValueError if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError(f"{len(raw)} bytes, not the 32 of an Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def init_key(path: str | os.PathLike[str], *, force: bool = False) -> tuple[Path, Path]:
    """Make a new key: the private key at `path` (mode 0600) and the public key beside it.
    Refuses to overwrite an existing key unless `force`. Returns both paths."""
    private_path, pub_path = Path(path), public_path(path)
    if not force:
        for existing in (private_path, pub_path):
            if existing.exists():
                raise UsageError(f"{existing} exists already: keep it, or pass --force to replace")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    if private_path.exists():
        private_path.unlink()
    fd = os.open(private_path, flags, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    os.chmod(private_path, 0o600)  # whatever the umask
    pub_path.write_text(public_key_b64(key) + "\n", encoding="ascii")
    return private_path, pub_path


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The private key in `path`; UsageError (saying how to make one) if there is none."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"no signing key at {path}: make one with `truceline keys init {path}`"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the signing key: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(source: str | os.PathLike[str]) -> Ed25519PublicKey:
    """A public key from a file (base64 of the raw key, or PEM), or from base64 text itself."""
    path = Path(source)
    try:
        text = path.read_text(encoding="ascii") if path.is_file() else os.fspath(source)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the public key: {exc}") from None
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise UsageError(f"{source}: not an Ed25519 public key")
        return key
    try:
        return public_key_from_b64(text)
    except ValueError as exc:
        raise UsageError(
            f"{source}: not an Ed25519 public key file or base64 key ({exc})"
        ) from None


def verify_signature(key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    """Whether `signature_b64` (base64 of 64 bytes) is `key`'s signature of `message`."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
