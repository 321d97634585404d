"""Keys derived from the one secret: field encryption, signed tokens, keyed hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, URLSafeTimedSerializer


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"lianxin", info=purpose).derive(
        secret.encode("utf-8")
    )


class Keyring:
    """Separate keys per purpose, so a leak of one kind of token reveals nothing of the others."""

    def __init__(self, secret: str) -> None:
        self.session_key = base64.urlsafe_b64encode(_derive(secret, b"session")).decode()
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"field-encryption")))
        self._hmac_key = _derive(secret, b"keyed-hash")
        self._card = URLSafeTimedSerializer(_derive(secret, b"member-card").hex(), salt="card")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str | None:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            return None

    def keyed_hash(self, value: str) -> str:
        return hmac.new(self._hmac_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def sign_card(self, payload: dict[str, Any]) -> str:
        return self._card.dumps(payload)

    def read_card(self, token: str) -> dict[str, Any] | None:
        try:
            data = self._card.loads(token)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None
