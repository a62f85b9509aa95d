# Discovery frames: the answers a round heard, collisions as noise, the confirmation.
from meterlink.drivers import iecdiscover as d
from meterlink.proto import iec62056 as iec


def frame(addr):
    body = addr + b"\x03"
    return b"\x02" + body + bytes([iec.bcc(body)])


def test_answers_and_noise():
    assert d.answers(frame(b"MSY123456789") + frame(b"LUN42")) == (["MSY123456789", "LUN42"], False)
    assert d.answers(b"") == ([], False)
    found, noise = d.answers(b"\x7f\x13" + frame(b"MSY1234"))
    assert found == ["MSY1234"] and noise
    bad = bytearray(frame(b"MSY1234"))
    bad[-1] ^= 1
    assert d.answers(bytes(bad)) == ([], True)
    assert d.answers(frame(b"MS Y1")) == ([], True)
    assert d.answers(frame(b"MSY12")[:-1]) == ([], True)


def test_confirmation():
    c = d.confirmation("MSY123456789", 120)
    assert c[:2] == b"\x02\x06" and c[2:-2] == b"MSY123456789(120)" and c[-2] == 0x03
    assert c[-1] == iec.bcc(c, 1, len(c) - 1)
