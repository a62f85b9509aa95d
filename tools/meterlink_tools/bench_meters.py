"""Meter reading figures: the firmware's poller on the host board against the simulated
meters, timed on the simulated line (virtual time), against the line-rate minimum.

The line-rate minimum of a session is its bytes at the baud rate (10 bits a character,
7E1) plus the pauses IEC 62056-21 requires: every message starts at least tr = 200 ms after
the one before it ended (the meter's reaction to the request, the option select and a
command; the terminal's option select after the identification and B0 after the readout;
the next meter's request after B0).  Both are computed here from what the simulated meters
counted on the wire, not from the firmware.
"""
import asyncio
import json
import tempfile

from . import simclock
from .hostboard import HostBoard
from .meters_cli import MPSCRIPTS
from .sim.meter import IecMeter
from .sim.wire import Medium, RFC2217Port

TR_US = 200_000
UART_IDS = {"rs485": 2, "optical": 3}


def char_us(baud):
    return 10 * 1_000_000 / baud


async def _run(master, port, meters, config, seconds, heapsize):
    loop = asyncio.get_running_loop()
    medium = Medium(loop, bus=(port == "rs485"))
    link = RFC2217Port(medium, UART_IDS[port], clock=master)
    await link.serve()
    for m in meters:
        medium.attach(m)
    hb = HostBoard(tempfile.mkdtemp(prefix="meterlink-bench-"), clock=master,
                   uarts={UART_IDS[port]: link.url}, script=MPSCRIPTS / "meter_cycle.py",
                   script_args=[str(seconds)], files={"config.json": json.dumps(config)},
                   heapsize=heapsize)
    await hb.boot()
    boot = await hb.wait()
    link.close()
    reads = [ln.split() for ln in boot.output if ln.startswith("@@METER")]
    if boot.code != 0 or len(reads) != len(meters) or any(r[3] != "0" or r[2] == "0" for r in reads):
        raise RuntimeError("meter benchmark run failed:\n" + "\n".join(boot.output[-20:]))
    return medium


def _session_bytes(m, k):
    """Bytes on the wire of meter m's k-th session (requests, answers, option select, B0)."""
    end = m.sessions[k + 1][2] if k + 1 < len(m.sessions) else m.rx_bytes + m.tx_bytes
    return end - m.sessions[k][2]


def rs485_cycle():
    """The second cycle (the first also learns which meters answer B0) of 32 meters read
    back to back."""
    meters = [IecMeter("makel", "%09d" % (200 + i), bus=True, reaction_ms=200) for i in range(32)]
    config = {"poll_period_s": 1,
              "ports": {"rs485": {"baudrate": 9600, "bits": 7, "parity": "E", "stop": 1, "idle_gap_ms": 200}},
              "meters": [{"id": "M%02d" % i, "port": "rs485", "address": m.address, "readout": "short"}
                         for i, m in enumerate(meters)]}
    simclock.run(lambda master: _run(master, "rs485", meters, config, 150, "384K"))
    k = 1
    start = min(m.sessions[k][0] for m in meters)
    end = max(m.sessions[k][1] for m in meters)
    wire_bytes = sum(_session_bytes(m, k) for m in meters)
    # per meter: request | tr | ident | tr | ACK | tr | readout | tr | B0, and tr before the next
    pauses = 4 * len(meters) + (len(meters) - 1)
    minimum = wire_bytes * char_us(9600) + pauses * TR_US
    cycle = end - start
    return [{"figure": "rs485_meters_cycle_ratio", "value": round(cycle / minimum, 4), "unit": "ratio",
             "goal": 1.10, "cycle_s": round(cycle / 1e6, 3), "minimum_s": round(minimum / 1e6, 3),
             "meters": len(meters), "bytes": wire_bytes,
             "note": "32 addressed meters, short readout, 9600 7E1, 200 ms reaction; second cycle"}]


def optical_session():
    meter = IecMeter("luna", "00000001", offered=9600, reaction_ms=200)
    config = {"poll_period_s": 3600, "ports": {"optical": {"baudrate": 300, "max_baudrate": 19200}},
              "meters": [{"id": "OPT", "port": "optical", "readout": "short"}]}
    simclock.run(lambda master: _run(master, "optical", [meter], config, 20, "256K"))
    txs = [e for e in meter.events if e[1] == "tx"]
    ident_bytes = len(meter.ident_line)
    data_start, (data_end, _) = txs[-1][0], txs[-1][2]
    data_bytes = meter.tx_bytes - ident_bytes
    request_bytes = meter.rx_bytes - 6
    minimum = ((request_bytes + ident_bytes + 6) * char_us(300) + data_bytes * char_us(9600) + 3 * TR_US)
    took = data_end - meter.first_request_start_us
    return [{"figure": "optical_session_ratio", "value": round(took / minimum, 4), "unit": "ratio",
             "session_s": round(took / 1e6, 3), "minimum_s": round(minimum / 1e6, 3),
             "note": "300 Bd sign-on, switch to 9600, short readout, 200 ms reaction"}]
