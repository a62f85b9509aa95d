"""Meter sessions on the host board against the simulated meters, on all three ports: the
rate switch after the option select has left the wire, fixed-rate RS-485 with B0, echoing
probes, partial blocks, programming mode, per-meter timeouts.  Expected values are read off
the readout fixtures by hand."""
import pytest

from iec_util import run_sessions
from meterlink_tools.sim.meter import IecMeter

OPTICAL = {"baudrate": 300, "max_baudrate": 19200, "switch_delay_ms": 20}
RS232 = {"baudrate": 300, "max_baudrate": 9600, "switch_delay_ms": 20}
RS485 = {"baudrate": 9600, "bits": 7, "parity": "E", "stop": 1, "idle_gap_ms": 200}
CHAR_300_US = 10 * 1_000_000 / 300


def lines(events):
    return [(t, v) for t, k, v in events if k == "line"]


def one(tmp_path, port, meter, line, entry=None, echo=False, **spec):
    entry = dict({"id": "M1"}, **(entry or {}))
    res, boot, medium, events, hb = run_sessions(tmp_path, port, [meter],
                                                 dict(spec, line=line, meters=[entry]), echo=echo)
    return res, events


def option_event(meter):
    return [e for e in meter.events if e[1] == "option"][-1]


@pytest.mark.parametrize("offered", [9600, 19200])
def test_optical_switches_after_the_option_select_has_left(tmp_path, offered):
    m = IecMeter("luna", "00000001", offered=offered)
    res, events = one(tmp_path, "optical", m, OPTICAL)
    r = res[0]
    assert "error" not in r, r
    assert r["values"]["1.8.0"] == ["062846.236", "kWh"]
    assert r["values"]["0.0.0"] == ["00000001", None]
    assert r["ident"] == "/LUN%d<1>LUN.E.3P.T4" % (5 if offered == 9600 else 6)
    assert m.stats["rates"] == [offered]
    ack_end = option_event(m)[0]                   # the meter had the option select's last bit
    switch = [t for t, v in lines(events) if v == "%d 7E1" % offered]
    assert len(switch) == 1
    # after the ACK left the wire, before the meter (200 ms reaction) answers at the new rate
    assert ack_end <= switch[0] < ack_end + 200_000
    assert lines(events)[-1][1] == "%d 7E1" % offered
    assert r["leds"] == {"opt_query": 0, "opt_response": 0, "opt_error": 0}


def test_rs232_takes_the_rate_the_meter_offers(tmp_path):
    m = IecMeter("kohler", "77")
    res, _ = one(tmp_path, "rs232", m, RS232)
    assert "error" not in res[0], res[0]
    assert m.stats["rates"] == [4800]
    assert res[0]["values"]["5.8.0"] == ["000045.300", "kvarh"]


def test_rs485_stays_at_its_rate_addresses_and_signs_off(tmp_path):
    m = IecMeter("tedas2023", "123456789", bus=True)
    res, events = one(tmp_path, "rs485", m, RS485, {"address": "MAS123456789"})
    r = res[0]
    assert "error" not in r, r
    assert r["values"]["32.7.0"] == ["220.86", "V"]          # unit from 97.2.0
    assert r["values"]["33.7.0"] == ["1.00", None]
    assert [v for _, v in lines(events)][-1] == "9600 7E1"
    assert "300 7E1" not in [v for _, v in lines(events)]
    assert m.stats["b0"] == 1 and m.stats["rates"] == [9600]
    assert [e[2] for e in m.events if e[1] == "request"] == ["MAS123456789"]


def test_an_echoing_probe_is_tolerated(tmp_path):
    m = IecMeter("luna", "5")
    res, _ = one(tmp_path, "optical", m, OPTICAL, echo=True, rounds=2)
    assert [r.get("error") for r in res] == [None, None]
    assert res[1]["values"]["1.8.0"] == ["062846.236", "kWh"]


def test_rate_capped_per_meter(tmp_path):
    m = IecMeter("luna", "5")
    res, _ = one(tmp_path, "optical", m, OPTICAL, {"max_baudrate": 2400})
    assert "error" not in res[0]
    assert m.stats["rates"] == [2400]


def test_lower_case_flag_means_20_ms_reaction(tmp_path):
    m = IecMeter("iskra", "42", reaction_ms=20)
    res, _ = one(tmp_path, "optical", m, OPTICAL)
    assert res[0]["values"]["1.8.0"] == ["0033402.264", "kWh"]
    ident_end = [e for e in m.events if e[1] == "tx"][0][2][0]
    ack_end = option_event(m)[0]
    gap = ack_end - ident_end - 6 * CHAR_300_US
    assert 19_000 <= gap <= 40_000, gap


def test_partial_blocks_with_a_damaged_block_are_repeated(tmp_path):
    m = IecMeter("makel", "9", bus=True, block_size=48, fault="bad_bcc")
    res, _ = one(tmp_path, "rs485", m, RS485, {"obis": ["*"], "readout": "full"})
    r = res[0]
    assert "error" not in r, r
    assert m.stats["naks"] == 1
    assert r["values"]["96.77.4*1"] == ["18-04-07,10:46,99-99-99,99:99", None]
    assert r["values"]["1.8.0"] == ["012345.678", "kWh"]


def test_full_readout_and_selection(tmp_path):
    m = IecMeter("luna", "1")
    res, _ = one(tmp_path, "optical", m, OPTICAL, {"readout": "full", "obis": ["1.8.0*x", "96.7.5"]})
    v = res[0]["values"]
    assert v == {"1.8.0*1": ["061000.000", "kWh"], "1.8.0*2": ["059871.442", "kWh"],
                 "96.7.5": ["0969", None], "96.7.5#2": ["02:30:57", None]}
    assert option_event(m)[2].startswith("5 0 ")


def test_programming_mode_reads_registers(tmp_path):
    m = IecMeter("makel", "3", bus=True, password="12345678")
    res, _ = one(tmp_path, "rs485", m, RS485, {"password": "12345678"},
                 program=["1.8.0", "0.9.2", "9.9.9"])
    assert res[0]["values"] == {"1.8.0": ["012345.678", "kWh"], "0.9.2": ["24-03-18", None],
                                "9.9.9": None}
    assert m.stats["b0"] == 1
    res, _ = one(tmp_path / "b", "rs485", m, RS485, {"password": "00000000"}, program=["1.8.0"])
    assert res[0]["error"] == "refused"
    assert m.stats["b0"] == 2


def test_slow_meter_needs_its_override(tmp_path):
    m = IecMeter("viko", "8", bus=True, fault="slow", slow_ms=2600)
    res, _ = one(tmp_path, "rs485", m, RS485)
    assert res[0]["error"] == "timeout"
    res, _ = one(tmp_path / "b", "rs485", m, RS485, {"reaction_timeout_ms": 3000})
    assert "error" not in res[0], res[0]
    assert res[0]["values"]["1.8.0"] == ["000321.900", "kWh"]
