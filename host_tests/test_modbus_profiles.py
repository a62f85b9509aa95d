"""Every shipped profile, read by the poller on the host board from pymodbus datastores holding
values this test chose: the readings are what the test works out on its own (Decimal for
scaled integers, printf's shortest round trip for float32, bit arithmetic for steps/alarms)."""
import random
import struct
from decimal import Decimal

from meterlink_tools.sim.modbus import ModbusSlave, load_profile, profile_names, registers_for
from modbus_util import by_source, f32_text, run_poller

RANGES = {"u16": (0, 0xFFFF), "s16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFFFFFF),
          "s32": (-0x80000000, 0x7FFFFFFF), "u48": (0, (1 << 48) - 1), "u64": (0, (1 << 64) - 1),
          "s64": (-(1 << 63), (1 << 63) - 1)}


def choose(doc, rng):
    """{key: raw value} and {reading key: [value, unit]} for one profile."""
    raw, want = {}, {}
    by_addr = {}
    for f in doc["fields"]:
        typ = f.get("type", "u16")
        if f["addr"] in by_addr:                   # two views of one register
            v = by_addr[f["addr"]]
        elif typ == "f32":
            v = struct.unpack(">f", struct.pack(">f", rng.uniform(-5e4, 5e4)))[0]
            if rng.random() < 0.3:
                v = float(struct.unpack(">f", struct.pack(">f", rng.choice([230.1, 0.95, -0.5, 49.98, 0.0])))[0])
        else:
            lo, hi = RANGES[typ]
            v = rng.randint(lo, hi)
        by_addr[f["addr"]] = v
        raw[f["key"]] = v
        unit = f.get("unit")
        if typ == "f32":
            text = f32_text(v)
            want[f["key"]] = [str(Decimal(text)) if "e" not in text else format(Decimal(text), "f"), unit]
        elif f.get("scale") is not None:
            want[f["key"]] = [str(Decimal(v) * Decimal(str(f["scale"]))), unit]
        else:
            want[f["key"]] = [v, unit]
        mask = v & ((1 << (16 * {"u16": 1, "s16": 1, "u32": 2, "s32": 2}.get(typ, 4))) - 1) if typ != "f32" else 0
        if "steps" in f:
            s = f["steps"]
            for i in range(s["count"]):
                want[s.get("key", "step_%d") % (i + 1)] = [(mask >> (s.get("first", 0) + i)) & 1, None]
        for bit, name in f.get("flags", {}).items():
            want[name] = [(mask >> int(bit)) & 1, None]
    return raw, want


def normal(value):
    """Float text as plain decimal (the firmware never writes exponents)."""
    if isinstance(value, str):
        d = Decimal(value)
        return format(d, "f") if "E" in str(d) else str(d)
    return value


def test_every_profile_decodes_what_the_datastore_holds(tmp_path):
    rng = random.Random(62056)
    names = profile_names()
    assert set(names) >= {"klemsan_rapidus", "klemsan_klea", "entes_mpr4x", "eastron_sdm630",
                          "janitza_umg96rm", "kael_varkombi", "generic"}
    slaves, entries, wants = [], [], {}
    for unit, name in enumerate(names, start=1):
        doc = load_profile(name)
        raw, want = choose(doc, rng)
        s = ModbusSlave(unit, registers_for(doc, raw), name=name)
        slaves.append(s)
        entries.append({"id": name, "address": unit, "profile": name, "period_s": 60})
        wants["mb:" + name] = want
    readings, status, bus, hb = run_poller(tmp_path, slaves, entries, 10)
    got = by_source(readings)
    for source, want in wants.items():
        assert source in got, (source, list(got))
        values = got[source][0]["values"]
        assert set(values) == set(want), (source, set(values) ^ set(want))
        for k, (v, unit) in want.items():
            gv, gu = values[k]
            assert (normal(gv), gu) == (normal(v), unit), (source, k, values[k], want[k])
    # neighbouring registers came in one request each: as many requests as the profile's blocks
    for s in slaves:
        assert s.stats["requests"] == len({(fc, a) for _, fc, a, _ in s.log})
        assert all(c <= 125 for _, _, _, c in s.log)
    rapidus = [s for s in slaves if s.name == "klemsan_rapidus"][0]
    assert rapidus.stats["requests"] <= 5
    assert bus.medium.stats["collisions"] == 0


def test_relay_steps_and_alarms_from_a_live_datastore(tmp_path):
    doc = load_profile("klemsan_rapidus")
    fields = {f["key"]: f for f in doc["fields"]}
    relay = ModbusSlave(1, registers_for(doc, {"steps_on": 0b101000000101, "alarm_flags_1": 0x80000001}))
    kael = load_profile("kael_varkombi")
    k = ModbusSlave(2, registers_for(kael, {"steps_on": (1 << 31) | (1 << 17) | 0b11, "status": 1 << 9}))
    entries = [{"id": "R1", "address": 1, "profile": "klemsan_rapidus", "period_s": 10},
               {"id": "K1", "address": 2, "profile": "kael_varkombi", "period_s": 10}]
    readings, status, bus, hb = run_poller(tmp_path, [relay, k], entries, 5)
    r = by_source(readings)["mb:R1"][0]["values"]
    assert [i for i in range(1, 13) if r["step_%d" % i][0]] == [1, 3, 10, 12]
    assert r["steps_on"] == [0b101000000101, None] and r["alarm_flags_1"] == [0x80000001, None]
    kv = by_source(readings)["mb:K1"][0]["values"]
    assert [i for i in range(1, 19) if kv["step_%d" % i][0]] == [1, 2, 18]
    assert kv["alarm"] == [1, None] and kv["inductive"] == [1, None] and kv["inductive_l1"] == [0, None]
    assert fields["steps_on"]["addr"] == 404
