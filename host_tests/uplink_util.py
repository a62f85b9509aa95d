"""Helpers for the uplink tests: the firmware's pure proto modules under CPython (a device
double that builds real requests) and MicroPython snippets run in the unix port."""
import subprocess
import sys
from pathlib import Path

from meterlink_tools.hostboard import FIRMWARE, micropython_env, micropython_exe

if str(FIRMWARE) not in sys.path:
    sys.path.append(str(FIRMWARE))

from meterlink.proto import envelope as ev  # noqa: E402  (pure: runs under CPython too)
from meterlink.proto import payload as pl  # noqa: E402
from meterlink.proto.varint import put_uvarint  # noqa: E402

HERE = Path(__file__).resolve().parent


def run_mpy(code, heap="1M"):
    """Run MicroPython source in the unix port (firmware on the path); returns stdout."""
    p = subprocess.run([micropython_exe(), "-X", "heapsize=%s" % heap, "-c", code],
                       env=micropython_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


class DeviceDouble:
    """Builds requests the way the firmware does, with the firmware's own encoder."""

    def __init__(self, device_id, key, life=7, boot=1, limits=(128, 192, 48)):
        self.device_id = device_id
        self.key = key
        self.life = life
        self.boot = boot
        self.req = 0
        self.seq = 0
        self.enc = pl.BatchEncoder(boot, 8192, limits)

    def batch(self, sets):
        for s in sets:
            assert self.enc.add(*s)
        self.seq += 1
        head = self.enc.seal(self.seq)
        data = bytes(head) + bytes(self.enc.buf[:self.enc.pos])
        self.enc.reset()
        return self.seq, data

    def request(self, batches, status=(), req=None):
        buf = bytearray(65536)
        st = ev.status_bytes(list(status))
        pos = ev.envelope_head(buf, self.device_id, self.life, self.boot,
                               self.req if req is None else req, st, len(batches))
        for seq, data in batches:
            pos = put_uvarint(buf, pos, seq)
            pos = put_uvarint(buf, pos, len(data))
            buf[pos:pos + len(data)] = data
            pos += len(data)
        end = ev.sign(self.key, buf, pos)
        if req is None:
            self.req += 1
        return bytes(buf[:end])

    def confirm(self, first, last):
        self.enc.confirm(first, last)
