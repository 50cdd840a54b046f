"""The RS256 key pair that signs management API tokens.

Configured through ``JWT_PRIVATE_KEY`` (PEM text) or ``JWT_PRIVATE_KEY_FILE``; otherwise generated into the
data directory on first run. Creation is atomic (write a temp file, then ``os.link``), so several gunicorn
workers starting at once all end up with the same key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class SigningKey:
    private_pem: str
    public_pem: str
    kid: str


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable ``kid`` derived from the key itself."""
    numbers = public_key.public_numbers()
    jwk = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _from_private_pem(pem: str) -> SigningKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("JWT signing key must be an RSA private key")
    public = key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return SigningKey(private_pem=pem, public_pem=public_pem, kid=_thumbprint(public))


def _generate_into(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwt-key-")
    try:
        os.write(fd, pem)
        os.close(fd)
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):  # another process won the race: keep theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def load_signing_key(*, pem: str | None, pem_file: str | None, data_dir: Path) -> SigningKey:
    """The configured key, or the one in ``data_dir`` (created on first use)."""
    if pem:
        return _from_private_pem(pem)
    path = Path(pem_file) if pem_file else data_dir / "jwt-signing-key.pem"
    if not path.exists():
        if pem_file:
            raise FileNotFoundError(f"JWT_PRIVATE_KEY_FILE {pem_file} does not exist")
        _generate_into(path)
    return _from_private_pem(path.read_text())
