"""Crypto-shredding (SPEC section 11): a data key per dossier, wrapped by a key-encryption key.

Personal fields are sealed with their dossier's data key (AES-256-GCM from ``cryptography``);
erasing the dossier deletes the key, after which a sealed value can never be read again and
reads as ``ERASED``. Data keys are stored wrapped (AES-GCM again) by a key-encryption key (KEK)
from the file ``ACTIEPUNTEN_KEK_FILE``: one KEK a line, ``<id>:<base64 of 32 bytes>``; the last
line wraps new keys, the earlier ones still unwrap the keys they wrapped. Rotation: append a new
line, restart, then re-wrap the old keys with it (``KeyEncryptionKeys.rewrap``) and drop the old
line. A lost KEK file makes every data key it wrapped unreadable: the personal fields of those
dossiers read as erased (the KEK belongs in a secret store with a backup).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ERASED = "[gewist]"
"""What a personal field reads as once its dossier's key is gone (Dutch: erased)."""

SEALED_PREFIX = "enc:v1:"
"""A sealed value: ``enc:v1:`` and the base64 of nonce (12 bytes) and ciphertext with tag."""

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyFileError(ValueError):
    """The KEK file is missing, unreadable or malformed: the service stops with the message."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted by the KEK ``kek_id``."""

    kek_id: str
    blob: bytes


class KeyEncryptionKeys:
    """The KEKs of the file, the last one current."""

    def __init__(self, keks: dict[str, bytes]) -> None:
        if not keks:
            raise KeyFileError("the KEK file holds no key")
        self.keks = keks
        self.current = list(keks)[-1]

    @classmethod
    def from_file(cls, path: Path) -> KeyEncryptionKeys:
        try:
            text = path.read_text()
        except OSError as error:
            raise KeyFileError(f"ACTIEPUNTEN_KEK_FILE {path}: {error.strerror}") from None
        keks: dict[str, bytes] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            kek_id, _, encoded = line.strip().partition(":")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                key = b""
            if not kek_id or len(key) != KEY_BYTES:
                raise KeyFileError(
                    f"ACTIEPUNTEN_KEK_FILE {path} line {number}: expected <id>:<base64 of "
                    f"{KEY_BYTES} bytes>"
                )
            keks[kek_id] = key
        return cls(keks)

    @staticmethod
    def new_line(kek_id: str | None = None) -> str:
        """A line for the KEK file with a fresh random KEK (``actiepunten keys new-kek``)."""
        kek_id = kek_id or f"kek-{secrets.token_hex(4)}"
        return f"{kek_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}\n"

    def wrap(self, data_key: bytes) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keks[self.current]).encrypt(nonce, data_key, self.current.encode())
        return WrappedKey(self.current, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        kek = self.keks.get(wrapped.kek_id)
        if kek is None:
            raise KeyFileError(f"the KEK {wrapped.kek_id!r} is not in ACTIEPUNTEN_KEK_FILE")
        nonce, sealed = wrapped.blob[:NONCE_BYTES], wrapped.blob[NONCE_BYTES:]
        return AESGCM(kek).decrypt(nonce, sealed, wrapped.kek_id.encode())

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key, wrapped by the current KEK (rotation)."""
        if wrapped.kek_id == self.current:
            return wrapped
        return self.wrap(self.unwrap(wrapped))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(data_key: bytes, text: str, context: str) -> str:
    """``text`` sealed with the dossier's key; ``context`` (the dossier) is authenticated with
    it, so a value copied into another dossier's event does not open."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, text.encode(), context.encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def seal_once(data_key: bytes, text: str, context: str) -> str:
    """``seal``, except for a value sealed with this key and context already (kept as it is):
    a text that only looks sealed (a client's file named ``enc:v1:...``) is sealed too."""
    if is_sealed(text) and _opened(data_key, text, context) is not None:
        return text
    return seal(data_key, text, context)


def reveal(data_key: bytes | None, value: str, context: str) -> str:
    """A personal field as it reads: the plain text of a sealed value, ``ERASED`` once its key
    is gone (or it does not open), and a value stored before sealing as it is."""
    if not is_sealed(value):
        return value
    if data_key is None:
        return ERASED
    plain = _opened(data_key, value, context)
    return ERASED if plain is None else plain


def _opened(data_key: bytes, value: str, context: str) -> str | None:
    """The plain text of a sealed value; None when it does not open with this key and context
    (or is no sealed value at all: not base64, too short, not UTF-8 inside)."""
    try:
        raw = base64.b64decode(value[len(SEALED_PREFIX) :], validate=True)
        plain = AESGCM(data_key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        return plain.decode()
    except (InvalidTag, binascii.Error, ValueError):
        return None
