# 10,000 random and mutated frames through the IEC 62056-21 parsers, in one MicroPython
# process: every input ends in a result or an IecError, never another exception or a hang.
import random
import time

from meterlink.proto import iec62056 as iec
from meterlink.proto import iecdata
from meterlink.proto.iecreadout import BlockReader, Collector

READOUTS = "tools/meterlink_tools/sim/readouts/"
BRANDS = ("luna", "makel", "kohler", "viko", "tedas2023", "iskra", "landisgyr")
FRAMES = 10000
SPECIALS = b"\x01\x02\x03\x04\x06\x15\r\n()*!/\\<>:&;,. -+"


def seeds():
    out = []
    for brand in BRANDS:
        with open(READOUTS + brand + ".txt") as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
        body = ("\r\n".join(lines[1:]).replace("{serial}", "123") + "\r\n!\r\n").encode() + b"\x03"
        out.append(lines[0].encode() + b"\r\n\x02" + body + bytes([iec.bcc(body)]))
    out.append(iec.command("R2", "1.8.0()"))
    out.append(b"\x02(ERROR)\x03" + bytes([iec.bcc(b"(ERROR)\x03")]))
    out.append(b"\x021.8.0(1)\r\n\x04" + bytes([iec.bcc(b"1.8.0(1)\r\n\x04")]) + b"\x02!\r\n\x03" + bytes([iec.bcc(b"!\r\n\x03")]))
    return out


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randint(0, 6)
        n = len(b)
        i = rng.randint(0, n) if n else 0
        if op == 0 and n:
            b[min(i, n - 1)] ^= 1 << rng.randint(0, 7)
        elif op == 1:
            b[i:i] = bytes([SPECIALS[rng.randint(0, len(SPECIALS) - 1)]])
        elif op == 2 and n:
            b[i:i + rng.randint(1, 20)] = b""
        elif op == 3:
            b[i:] = b""
        elif op == 4 and n:
            j = rng.randint(0, n - 1)
            b[i:i] = b[j:j + rng.randint(1, 40)]
        elif op == 5:
            b[i:i] = bytes([rng.randint(0, 255) for _ in range(rng.randint(1, 5))])
        elif op == 6 and n:
            b[min(i, n - 1)] = rng.randint(0x80, 0xFF)
    return bytes(b)


def random_frame(rng):
    n = rng.randint(0, 300)
    if rng.randint(0, 1):
        return bytes([SPECIALS[rng.randint(0, len(SPECIALS) - 1)] if rng.randint(0, 2) else rng.randint(0, 127)
                      for _ in range(n)])
    return bytes([rng.randint(0, 255) for _ in range(n)])


def run_one(data, select, chunk):
    outcomes = 0
    for fn in (iec.parse_ident, iec.parse_answer, iec.parse_command, iecdata.parse_line):
        try:
            fn(data)
            outcomes += 1
        except iec.IecError:
            outcomes += 1
    c = Collector(select)
    r = BlockReader()
    try:
        i = 0
        while i < len(data):
            end = r.feed(data[i:i + chunk], c.line)
            if end >= 0:
                if r.last:
                    break
                r.mark()
            i += chunk
    except iec.IecError:
        pass
    c.commit()
    for k, (v, u) in c.finish().items():
        assert isinstance(k, str) and isinstance(v, str) and (u is None or isinstance(u, str))
        iecdata.decimal(v)
        iecdata.split_range(v)
        iecdata.history(k)
    return outcomes


def test_ten_thousand_frames_give_results_or_clean_errors():
    rng = random.Random(62056) if hasattr(random, "Random") else None
    if rng is None:
        random.seed(62056)
        rng = random
    base = seeds()
    select = iecdata.Selector(["*"])
    t0 = time.ticks_ms()
    slowest = 0
    for n in range(FRAMES):
        if n % 3 == 0:
            data = random_frame(rng)
        else:
            data = mutate(rng, base[n % len(base)])
        t = time.ticks_ms()
        try:
            assert run_one(data, select, rng.randint(1, 64)) == 4
        except Exception as e:
            print("frame", n, repr(data))
            raise e
        slowest = max(slowest, time.ticks_diff(time.ticks_ms(), t))
    took = time.ticks_diff(time.ticks_ms(), t0)
    print("fuzz: %d frames in %d ms, slowest %d ms" % (FRAMES, took, slowest))
    assert slowest < 1000, "a frame took %d ms" % slowest
