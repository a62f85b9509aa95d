# The flash spool inside MicroPython on a LittleFS filesystem (RAM block device).
import os
import struct

import ramfs
from meterlink.services import log
from meterlink.services.spool import REC_HDR, Spool

log.flash_enabled = False
log.console_level = 3


class Clock:
    def __init__(self, now, valid):
        self.t = now
        self.ok = valid
        self.source = None

    def now(self):
        return self.t

    def valid(self):
        return self.ok


def reading(i, t=1750000000, ok=True, n=4):
    vals = {}
    for k in range(n):
        vals["1.8.%d" % k] = ("%d.%03d" % (1000 + i, k), "kWh")
    return ("meter:A%d" % (i % 3), t + 60 * i, ok, vals)


def spool(root, **kw):
    return Spool(root=root + "/spool", **kw).open()


def test_sealed_batches_survive_a_restart_and_seqs_continue():
    root = ramfs.mount()
    sp = spool(root)
    assert sp.boot == 1
    for i in range(5):
        sp.put(reading(i))
    assert sp.seal() == 1
    sp.put(reading(5))
    assert sp.seal() == 2
    assert sp.seal() is None          # nothing gathered: no empty batch
    sp2 = spool(root)
    assert sp2.boot == 2
    assert list(sp2.pending()) == [1, 2]
    buf = bytearray(8192)
    n1 = sp2.read_into(1, memoryview(buf))
    assert n1 and n1 == sp2.size_of(1)
    sp2.put(reading(6))
    assert sp2.seal() == 3


def test_acknowledged_batches_are_deleted_and_never_renumbered():
    root = ramfs.mount()
    sp = spool(root)
    for b in range(3):
        sp.put(reading(b))
        sp.seal()
    sp.ack(1, 2)
    assert list(sp.pending()) == [3]
    assert "00000001" not in ramfs.listdir(root + "/spool")
    sp.ack(3, 3)
    assert sp.pending_count() == 0
    sp2 = spool(root)
    assert sp2.pending_count() == 0
    sp2.put(reading(9))
    assert sp2.seal() == 4           # after everything was acked and deleted, still 4


def test_full_spool_drops_the_oldest_and_counts_the_loss():
    root = ramfs.mount(blocks=40)
    # 40 blocks, share 0.5 -> 20 blocks; a batch of ~3 KB takes one block
    sp = spool(root, share=0.5, batch_bytes=3000, reserve_blocks=2)
    sets_in = {}
    i = 0
    while sp.st["lost_batches"] == 0:
        seq = sp.next
        n = 0
        while sp.next == seq:      # fill until put() seals by size
            sp.put(reading(i, n=12))
            i += 1
            n += 1
        sets_in[seq] = n - 1       # the set that did not fit opened the next batch
        assert i < 5000
    lost = sp.st["lost_batches"]
    dropped = [s for s in sets_in if s < sp.first]
    assert len(dropped) == lost
    assert sp.st["lost_sets"] == sum(sets_in[s] for s in dropped)
    assert sp.used_blocks <= sp.limit_blocks
    names = ramfs.listdir(root + "/spool")
    for s in dropped:
        assert "%08x" % s not in names
    sp2 = spool(root, share=0.5, batch_bytes=3000, reserve_blocks=2)
    assert sp2.st["lost_sets"] == sp.st["lost_sets"]
    assert sp2.first == sp.first


def test_corrupt_batch_is_discarded_and_counted():
    root = ramfs.mount()
    sp = spool(root)
    for i in range(3):
        sp.put(reading(i))
    sp.seal()
    sp.put(reading(4))
    sp.seal()
    name = root + "/spool/00000001"
    with open(name, "rb") as f:
        data = bytearray(f.read())
    data[REC_HDR + 5] ^= 0x40
    with open(name, "wb") as f:
        f.write(data)
    buf = bytearray(8192)
    assert sp.read_into(1, memoryview(buf)) is None
    assert sp.st["lost_batches"] == 1 and sp.st["lost_sets"] == 3
    assert list(sp.pending()) == [2]
    assert sp.read_into(2, memoryview(buf)) == sp.size_of(2)


def test_batch_written_but_not_renamed_is_recovered():
    root = ramfs.mount()
    sp = spool(root)
    for i in range(4):
        sp.put(reading(i))
    sp.seal()
    os.rename(root + "/spool/00000001", root + "/spool/tmp")   # the reset came before the rename
    sp2 = spool(root)
    assert list(sp2.pending()) == [1]
    assert "tmp" not in ramfs.listdir(root + "/spool")


def test_half_written_temporary_is_removed():
    root = ramfs.mount()
    sp = spool(root)
    sp.put(reading(0))
    sp.seal()
    with open(root + "/spool/00000001", "rb") as f:
        data = f.read()
    with open(root + "/spool/tmp", "wb") as f:
        f.write(data[:len(data) // 2])
    sp2 = spool(root)
    assert list(sp2.pending()) == [1]
    assert "tmp" not in ramfs.listdir(root + "/spool")


def test_clock_fix_for_readings_before_the_clock_was_set():
    root = ramfs.mount()
    clock = Clock(946684800 + 100, False)
    sp = spool(root, clock=clock)
    sp.put(reading(0, t=946684800 + 100, ok=False))
    assert sp.enc.clock_fix is None
    clock.t, clock.ok = 1750000000, True
    sp.put(reading(1, t=1750000000, ok=True))
    # the RTC jumped from 2000-01-01 00:01:40 to 1750000000 (within this test's second)
    fix = sp.enc.clock_fix
    assert fix in (1750000000 - 946684900, 1750000000 - 946684901), fix
    head = sp.enc.seal(sp.next)
    assert head[1] & 1                  # the batch says it carries the fix


def test_records_carry_the_reading_count_and_length():
    root = ramfs.mount()
    sp = spool(root)
    for i in range(7):
        sp.put(reading(i))
    sp.seal()
    with open(root + "/spool/00000001", "rb") as f:
        hdr = f.read(REC_HDR)
        rest = f.read()
    magic, ver, nsets, length, crc = struct.unpack("<BBHII", hdr)
    assert (magic, ver, nsets, length) == (0x53, 1, 7, len(rest))


def test_a_state_file_that_does_not_verify_is_not_trusted():
    root = ramfs.mount()
    sp = spool(root)
    sp.put(reading(0))
    sp.seal()
    sp.ack(1, 1)
    with open(root + "/spool/state", "r") as f:
        text = f.read()
    with open(root + "/spool/state", "w") as f:
        f.write(text.replace('"acked": 1', '"acked": 9'))
    sp2 = spool(root)
    assert sp2.boot == 1        # a fresh state: the bad one was ignored
