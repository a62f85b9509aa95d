# Host board script: a fixed spool workload (fill, seal, acknowledge, overflow) printing what
# each call promised once it returned; with the argument "check" it reports what the spool
# holds after a restart instead.  The test cuts the power at every flash write of the workload.
import binascii

import hostconf
from meterlink.services import log
from meterlink.services.spool import Spool

log.flash_enabled = False
log.console_level = 2
args = hostconf.conf.get("script_args") or ["run"]
ROUNDS = 12


def reading(i):
    return ("meter:%d" % (i % 2), 1750000000 + 60 * i, True,
            {"1.8.0": ("%d.%03d" % (1000 + i, i % 1000), "kWh"), "n": (i, None)})


def batch_hex(sp, seq):
    buf = bytearray(4096)
    n = sp.read_into(seq, memoryview(buf))
    return None if n is None else binascii.hexlify(buf[:n]).decode()


def run():
    sp = Spool(root="spool", share=0.1, batch_bytes=400, reserve_blocks=1).open()
    print("OPEN", sp.boot)
    i = 0
    for r in range(ROUNDS):
        for _ in range(4):
            sp.put(reading(i))
            i += 1
        seq = sp.seal()
        print("SEALED", seq, sp.first, batch_hex(sp, seq))
        if r in (4, 10) and sp.next - 2 >= sp.first:
            last = sp.next - 2
            sp.ack(sp.first, last)
            print("ACKED", last)
    print("DONE")


def check():
    sp = Spool(root="spool", share=0.1, batch_bytes=400, reserve_blocks=1).open()
    st = sp.st
    print("STATE", st["acked"], st["dropped"], st["lost_batches"], st["lost_sets"])
    for seq in sp.pending():
        h = batch_hex(sp, seq)
        if h is not None:
            print("PENDING", seq, h)
    sp.put(reading(999))
    print("NEXT", sp.seal())


run() if args[0] == "run" else check()
