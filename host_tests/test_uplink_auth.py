"""The firmware's HMAC-SHA256 (proto/auth.py, under CPython) against CPython's hmac module and
the RFC 4231 vectors; the MicroPython side runs the same vectors in host_tests/mpy/test_auth.py."""
import hashlib
import hmac
import random

import pytest

import uplink_util  # noqa: F401  (puts the firmware on the path)
from meterlink.proto.auth import TAG_LEN, Hmac, hmac_sha256

RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
]


@pytest.mark.parametrize("key,data,want", RFC4231)
def test_rfc4231(key, data, want):
    assert hmac_sha256(key, data).hex() == want
    assert hmac.new(key, data, hashlib.sha256).hexdigest() == want


def test_truncated_tag_is_rfc4231_case_5():
    assert hmac_sha256(b"\x0c" * 20, b"Test With Truncation")[:TAG_LEN].hex() == "a3b6167473100ee06e0c796c2955552b"


def test_matches_cpython_hmac_for_random_keys_and_data():
    rng = random.Random(5)
    for _ in range(200):
        key = rng.randbytes(rng.choice([0, 1, 16, 32, 63, 64, 65, 100, 200]))
        data = rng.randbytes(rng.randrange(0, 300))
        h = Hmac(key)
        cut = rng.randrange(0, len(data) + 1)
        h.update(data[:cut])
        h.update(data[cut:])
        assert h.digest() == hmac.new(key, data, hashlib.sha256).digest()
