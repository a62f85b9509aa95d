"""Meter sessions against simulated meters with the habits of real ones: wake-up noise before
the identification, echoing RS-485 lines, slow identifications, LF-only line ends, a
character damaged on the way, meters that do not know the Turkish short readout.  Expected
values are read off the readout fixtures by hand."""
import pytest

from iec_util import run_poller, run_sessions
from meterlink_tools.sim.meter import IecMeter

OPTICAL = {"baudrate": 300, "max_baudrate": 19200, "switch_delay_ms": 20}
RS485 = {"baudrate": 9600, "bits": 7, "parity": "E", "stop": 1, "idle_gap_ms": 200}


def sessions(tmp_path, port, meters, line, entries=None, echo=False, rounds=1):
    entries = entries or [{"id": "M%d" % i} for i in range(len(meters))]
    res, boot, medium, events, hb = run_sessions(
        tmp_path, port, meters, {"line": line, "meters": entries, "rounds": rounds}, echo=echo)
    return res, medium


def modes(meter):
    return [e[2][2] for e in meter.events if e[1] == "option"]


@pytest.mark.parametrize("noise", [b"\x00\x00\x7f", b"\x00\xff\r\n", b"\x7f\r\n\x00\r\n\x00"])
def test_wake_up_noise_before_the_identification(tmp_path, noise):
    m = IecMeter("makel", "123456789", bus=True, wake_noise=noise)
    res, _ = sessions(tmp_path, "rs485", [m], RS485, [{"id": "M", "address": "MSY123456789"}])
    assert "error" not in res[0], res[0]
    assert res[0]["ident"] == "/MSY5<1>C500.KMY.2556"
    assert res[0]["values"]["1.8.0"] == ["012345.678", "kWh"]


def test_wake_up_noise_on_the_optical_port(tmp_path):
    m = IecMeter("luna", "5", wake_noise=b"\x00\r\n")
    res, _ = sessions(tmp_path, "optical", [m], OPTICAL)
    assert "error" not in res[0], res[0]
    assert m.stats["rates"] == [9600]


def test_an_echoing_rs485_line(tmp_path):
    # a transceiver whose receiver stays on hears the request, the option select and B0:
    # none of them is taken for an answer (B0's echo is not the meter acknowledging B0)
    meters = [IecMeter("makel", "10000000%d" % i, bus=True) for i in range(3)]
    meters[1].b0_reply = b"\x06"
    entries = [{"id": "M%d" % i, "address": m.address} for i, m in enumerate(meters)]
    res, medium = sessions(tmp_path, "rs485", meters, RS485, entries, echo=True, rounds=2)
    assert [r.get("error") for r in res] == [None] * 6
    assert medium.stats["collisions"] == 0
    assert all(m.stats["readouts"] == 2 for m in meters)
    ms = {(r["id"], r["round"]): r["ms"] for r in res}
    # the first B0 listens 1600 ms; a meter that gave no answer then gets the idle gap
    assert 1350 <= ms[("M0", 0)] - ms[("M0", 1)] <= 1450
    assert ms[("M1", 1)] > ms[("M0", 1)]


@pytest.mark.parametrize("port", ["rs485", "optical"])
def test_identification_after_1500_ms(tmp_path, port):
    # tr max: the defaults wait for it
    m = IecMeter("viko", "8", bus=(port == "rs485"), reaction_ms=1500)
    res, _ = sessions(tmp_path, port, [m], RS485 if port == "rs485" else OPTICAL)
    assert "error" not in res[0], res[0]
    assert res[0]["values"]["1.8.0"] == ["000321.900", "kWh"]


@pytest.mark.parametrize("block_size", [None, 40])
def test_lf_only_line_ends(tmp_path, block_size):
    m = IecMeter("kohler", "77", bus=True, eol="\n", block_size=block_size)
    res, _ = sessions(tmp_path, "rs485", [m], RS485, [{"id": "M", "obis": ["*"], "readout": "full"}])
    v = res[0]["values"]
    assert "error" not in res[0], res[0]
    assert v["5.8.0"] == ["000045.300", "kvarh"]
    assert v["1.8.0*12"] == ["000100.000", "kWh"]
    assert v["34.7.0"] == ["50.01", "Hz"]


def test_a_damaged_character_is_read_again_never_delivered(tmp_path):
    m = IecMeter("makel", "1", bus=True, fault="parity", fault_sessions=1)
    res, _ = sessions(tmp_path, "rs485", [m], RS485)
    assert "error" not in res[0], res[0]
    assert res[0]["values"]["1.8.0"] == ["012345.678", "kWh"]
    assert m.stats["requests"] == 2
    # damaged every time: a clear error, no values
    m = IecMeter("makel", "1", bus=True, fault="parity")
    res, _ = sessions(tmp_path / "b", "rs485", [m], RS485)
    assert res[0]["error"] == "bcc" and "values" not in res[0]
    assert m.stats["requests"] == 2


@pytest.mark.parametrize("answer,echo", [("nak", False), ("error", False), ("nak", True)])
def test_a_meter_that_refuses_the_short_readout_is_read_in_full(tmp_path, answer, echo):
    m = IecMeter("landisgyr", "31", bus=True, short_readout=False, unknown_mode=answer)
    res, _ = sessions(tmp_path, "rs485", [m], RS485, [{"id": "M", "address": "31"}], echo=echo,
                      rounds=3)
    assert [r.get("error") for r in res] == [None] * 3
    assert res[0]["values"]["C.1.0"] == ["31", None]
    # refused once: the full readout from then on
    assert modes(m) == ["6", "0", "0", "0"]


def test_a_meter_silent_to_the_short_readout(tmp_path):
    m = IecMeter("landisgyr", "31", bus=True, short_readout=False, unknown_mode="silent")
    res, _ = sessions(tmp_path, "rs485", [m], RS485, [{"id": "M", "address": "31"}], rounds=4)
    assert [r.get("error") for r in res] == [None] * 4
    # silence may be a passing fault: twice in a row before the short readout is given up
    assert modes(m) == ["6", "0", "6", "0", "0", "0"]


def test_silent_short_readout_on_the_optical_port_keeps_the_rate(tmp_path):
    m = IecMeter("landisgyr", "31", short_readout=False, unknown_mode="silent")
    res, _ = sessions(tmp_path, "optical", [m], OPTICAL, rounds=2)
    assert [r.get("error") for r in res] == [None] * 2
    assert m.stats["rates"] == [9600] * 4
    assert modes(m) == ["6", "0", "6", "0"]


class QuietOnce(IecMeter):
    """Misses one short readout (a passing fault), then answers it again."""

    def _on_option(self, z, y, t_us):
        super()._on_option(z, y, t_us)
        self.modes = "016"


def test_a_turkish_meter_that_missed_one_short_readout_keeps_it(tmp_path):
    m = QuietOnce("tedas2023", "123456789", bus=True, short_readout=False, unknown_mode="silent")
    res, _ = sessions(tmp_path, "rs485", [m], RS485, [{"id": "M", "address": "MAS123456789"}], rounds=3)
    assert [r.get("error") for r in res] == [None] * 3
    assert modes(m) == ["6", "0", "6", "6"]
    assert res[1]["values"]["32.7.0"] == ["220.86", "V"]


def test_poller_counts_the_lines_it_could_not_read(tmp_path):
    # an unprogrammed field (DEL bytes) spoils its own line only; the status tells
    m = IecMeter("makel", "123456789", bus=True, registers={"0.9.2": "\x7f\x7f\x7f"})
    cfg = {"poll_period_s": 600, "ports": {"rs485": RS485},
           "meters": [{"id": "M", "port": "rs485", "address": m.address}]}
    readings, status, leds, boot, hb, _ = run_poller(tmp_path, {"rs485": ({}, [m])}, cfg, 20)
    assert len(readings) == 1
    v = readings[0]["values"]
    assert v["1.8.0"] == ["012345.678", "kWh"] and "0.9.2" not in v
    assert status["M"]["bad_lines"] == 1 and status["M"]["errors"] == 0
