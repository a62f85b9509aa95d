"""Batches encoded by the firmware inside MicroPython, decoded by the collector's own reader
(tools/meterlink_tools/collector/wire.py): every number comes back exact, with its scale."""
import json
import random
from decimal import Decimal

import pytest

from meterlink_tools.collector import wire
from uplink_util import run_mpy

ENCODE = r'''
import json, binascii
from meterlink.proto.payload import BatchEncoder
plan = json.loads(%r)
enc = BatchEncoder(plan["boot"], plan.get("capacity", 16384), tuple(plan["limits"]))
seq = 0
for batch in plan["batches"]:
    for s in batch["sets"]:
        vals = {}
        for k, v, u in s["values"]:
            vals[k] = (v, u)
        assert enc.add(s["source"], s["t"], s["ok"], vals)
    if batch.get("fix") is not None:
        enc.clock_fix = batch["fix"]
    seq += 1
    head = enc.seal(seq)
    print("HEAD", "in-place" if isinstance(head, memoryview) else "own-block")
    print("BATCH", binascii.hexlify(bytes(head) + bytes(enc.buf[:enc.pos])).decode())
    enc.reset()
    if batch.get("ack"):
        enc.confirm(seq, seq)
'''


def random_decimal(rng):
    scale = rng.choice([0, 0, 1, 2, 3, 3, 4, 6])
    digits = str(rng.randrange(0, 10 ** rng.randrange(1, 12))).rjust(scale + 1, "0")
    if rng.random() < 0.2:
        digits = "0" * rng.randrange(1, 4) + digits          # meters print leading zeros
    text = digits if not scale else digits[:-scale] + "." + digits[-scale:]
    return rng.choice(["", "", "", "-", "+"]) + text


def make_plan(rng, limits=(128, 192, 48)):
    sources = ["meter:MSY%09d" % i for i in range(3)] + ["mb:rs485:%d" % a for a in (5, 17)]
    keys = {s: ["1.8.0", "2.8.0", "32.7.0", "0.9.1", "F.F"] if s.startswith("meter")
            else ["voltage_l1", "current_l1", "pf", "steps", "alarm"] for s in sources}
    units = {"1.8.0": "kWh", "2.8.0": "kWh", "32.7.0": "V", "voltage_l1": "V", "current_l1": "A"}
    batches, t = [], 1750000000
    for b in range(6):
        sets = []
        for _ in range(rng.randrange(1, 8)):
            src = rng.choice(sources)
            t += rng.randrange(0, 90)
            values = []
            for k in keys[src]:
                roll = rng.random()
                if roll < 0.7:
                    v = random_decimal(rng)
                elif roll < 0.8:
                    v = rng.randrange(-10 ** 20, 10 ** 20)
                elif roll < 0.87:
                    v = None
                elif roll < 0.93:
                    v = rng.choice(["12:34:56", "C.1.0 text", "ñandú", ""])
                else:
                    v = rng.choice([0.5, 230.25, -1.125])
                values.append([k, v, units.get(k)])
            sets.append({"source": src, "t": t, "ok": rng.random() > 0.1, "values": values})
        batches.append({"sets": sets, "ack": rng.random() < 0.6, "fix": rng.choice([None, None, -3600, 803315100])})
    return {"boot": 3, "limits": list(limits), "batches": batches}


def expected_value(v):
    if v is None:
        return None
    if isinstance(v, bool) or isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    try:
        if v.lstrip("+-").replace(".", "", 1).isdigit():
            return Decimal(v)
    except ValueError:
        pass
    return v


def decode_all(hexes):
    defs = {}
    out = []
    for h in hexes:
        b = wire.decode_batch(bytes.fromhex(h), lambda kind, idx: defs.get((kind, idx)))
        for kind, idx, content in b.defs:
            defs[(kind, idx)] = content
        out.append(b)
    return out


@pytest.mark.parametrize("seed,limits", [(1, (128, 192, 48)), (2, (128, 192, 48)), (3, (2, 3, 1))],
                         ids=["dictionaries", "dictionaries-2", "dictionaries-full-inline"])
def test_round_trip_is_exact(seed, limits):
    rng = random.Random(seed)
    plan = make_plan(rng, limits)
    out = run_mpy(ENCODE % json.dumps(plan))
    hexes = [line.split()[1] for line in out.splitlines() if line.startswith("BATCH ")]
    assert len(hexes) == len(plan["batches"])
    # every header was built in the batch buffer, behind the body: no block of its own
    assert {line for line in out.splitlines() if line.startswith("HEAD ")} == {"HEAD in-place"}
    decoded = decode_all(hexes)
    for want, got in zip(plan["batches"], decoded):
        assert got.epoch == 3
        assert len(got.sets) == len(want["sets"])
        for ws, (source, t, ok, values) in zip(want["sets"], got.sets):
            assert (source, t, ok) == (ws["source"], ws["t"], ws["ok"])
            got_by_key = {k: (u, v) for k, u, v in values}     # MicroPython dicts keep no order
            assert sorted(got_by_key) == sorted(k for k, _, _ in ws["values"])
            for k, v, u in ws["values"]:
                gu, gv = got_by_key[k]
                assert gu == (u or None)
                exp = expected_value(v)
                if isinstance(exp, Decimal):
                    assert Decimal(gv) == exp, (k, v, gv)
                    if isinstance(v, str):
                        assert Decimal(gv).as_tuple().exponent == exp.as_tuple().exponent
                else:
                    assert gv == exp, (k, v, gv)


def test_a_header_too_big_to_follow_the_body_still_decodes():
    # normally the header is written behind the body in the batch buffer; a first set whose
    # definitions alone overfill a small batch gets a header block of its own, equally exact
    keys = ["register.number.%02d.with.a.long.name" % i for i in range(20)]
    small = {"source": "meter:MSY000000001", "t": 1750000000, "ok": True,
             "values": [[k, str(i), "kWh"] for i, k in enumerate(keys)]}
    later = dict(small, t=1750000060, values=[[k, str(i + 1), "kWh"] for i, k in enumerate(keys)])
    plan = {"boot": 3, "limits": [128, 192, 48], "capacity": 200,
            "batches": [{"sets": [small], "ack": True, "fix": None},
                        {"sets": [later], "ack": True, "fix": None}]}
    out = run_mpy(ENCODE % json.dumps(plan))
    assert [line.split()[1] for line in out.splitlines() if line.startswith("HEAD ")] == \
        ["own-block", "in-place"]
    hexes = [line.split()[1] for line in out.splitlines() if line.startswith("BATCH ")]
    first, second = decode_all(hexes)
    assert len(first.defs) > 20 and not second.defs
    for batch, want in ((first, small), (second, later)):
        (source, t, ok, values), = batch.sets
        assert (source, t) == (want["source"], want["t"])
        assert sorted((k, u, v) for k, u, v in values) == sorted((k, u, v) for k, v, u in want["values"])


def test_confirmed_definitions_are_not_sent_again():
    rng = random.Random(9)
    plan = make_plan(rng)
    for b in plan["batches"]:
        b["ack"] = True
        b["fix"] = None
    # the same sources and keys every batch: after the first is acked, only references travel
    plan["batches"] = [{"sets": plan["batches"][0]["sets"], "ack": True}] * 3
    hexes = [line.split()[1] for line in run_mpy(ENCODE % json.dumps(plan)).splitlines()
             if line.startswith("BATCH ")]
    decoded = decode_all(hexes)
    assert decoded[0].defs and not decoded[1].defs and not decoded[2].defs
    assert len(hexes[1]) < len(hexes[0]) // 2
    assert decoded[1].sets == decoded[0].sets


def test_unacknowledged_definitions_travel_again():
    rng = random.Random(4)
    plan = make_plan(rng)
    plan["batches"] = [{"sets": plan["batches"][0]["sets"], "ack": False}] * 2
    hexes = [line.split()[1] for line in run_mpy(ENCODE % json.dumps(plan)).splitlines()
             if line.startswith("BATCH ")]
    b2 = wire.decode_batch(bytes.fromhex(hexes[1]), lambda kind, idx: None)   # decodable alone
    assert len(b2.sets) == len(plan["batches"][0]["sets"])


def test_clock_fix_travels_until_acknowledged():
    plan = {"boot": 1, "limits": [8, 8, 8], "batches": [
        {"sets": [{"source": "m", "t": 946684900, "ok": False, "values": [["1.8.0", "1.0", "kWh"]]}],
         "fix": 803315100, "ack": False},
        {"sets": [{"source": "m", "t": 1750000000, "ok": True, "values": [["1.8.0", "1.1", "kWh"]]}],
         "ack": True},
        {"sets": [{"source": "m", "t": 1750000060, "ok": True, "values": [["1.8.0", "1.2", "kWh"]]}]},
    ]}
    hexes = [line.split()[1] for line in run_mpy(ENCODE % json.dumps(plan)).splitlines()
             if line.startswith("BATCH ")]
    fixes = [b.clock_fix for b in decode_all(hexes)]
    assert fixes == [803315100, 803315100, None]
