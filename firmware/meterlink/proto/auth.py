"""HMAC-SHA256 (RFC 2104) on hashlib.sha256, which MicroPython has (it has no `hmac` module).

Incremental, so a request can be signed while it is assembled from flash piece by piece.
Tags on the wire are truncated to TAG_LEN bytes (RFC 4868 section 2.6: HMAC-SHA-256-128).
"""
import hashlib

BLOCK = 64
TAG_LEN = 16


def _pad(key, byte):
    out = bytearray(BLOCK)
    for i in range(len(key)):
        out[i] = key[i] ^ byte
    for i in range(len(key), BLOCK):
        out[i] = byte
    return out


class Hmac:
    """hmac.new(key, digestmod=sha256) with update() and digest() (once)."""

    def __init__(self, key, data=None):
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        self._outer_pad = _pad(key, 0x5C)
        self._inner = hashlib.sha256(_pad(key, 0x36))
        if data is not None:
            self._inner.update(data)

    def update(self, data):
        self._inner.update(data)

    def digest(self):
        outer = hashlib.sha256(self._outer_pad)
        outer.update(self._inner.digest())
        return outer.digest()


def hmac_sha256(key, data):
    return Hmac(key, data).digest()


def equal(a, b):
    """Compare two tags in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
