"""The flash spool: reading sets batched into checksummed files, kept until the collector acks them.

Each batch is written to `tmp`, then renamed to its sequence number, so a power cut leaves
either the whole batch or none.  `state` (replaced the same way) holds what was acknowledged
and dropped; it is written before the files it covers are deleted.  When the spool's share of
the filesystem is used up the oldest batches are dropped, counted and reported.
"""
import binascii
import json
import os
import struct
import time

from meterlink.proto.payload import BatchEncoder
from meterlink.services import log

REC_MAGIC = 0x53
REC_HDR = 12            # magic, version, sets (u16), length (u32), crc32 (u32)
_HDR = "<BBHI"


class SpoolCorrupt(Exception):
    pass


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Spool:
    def __init__(self, root="spool", share=0.5, batch_bytes=3072, seal_max_s=900,
                 reserve_blocks=8, limits=(128, 192, 48), clock=None):
        self.root = root
        self.share = share
        self.batch_bytes = batch_bytes
        self.seal_max_ms = int(seal_max_s * 1000)
        self.reserve_blocks = reserve_blocks
        self.limits = limits
        self.clock = clock
        self.st = None
        self.enc = None
        self.first = self.next = 1       # pending local seqs: first .. next-1 (holes allowed)
        self.used_blocks = 0
        self.bs = 4096
        self.limit_blocks = 0
        self.taken = 0                   # reading sets accepted this boot
        self.in_flight = None            # (first, last) local seqs of the request being sent
        self.errors = 0
        self._opened_ms = 0
        self._invalid_ref = None         # (t, ticks_ms) of the last reading with an unset clock

    # -- start-up and recovery --

    def open(self):
        """Recover after any reset or power cut and start a new boot (dictionary epoch)."""
        try:
            os.mkdir(self.root)
        except OSError:
            pass
        st = self._read_state(self._p("state.tmp")) or self._read_state(self._p("state"))
        if st is None:
            st = {"life": _random_life(), "boot": 0, "acked": 0, "dropped": 0,
                  "lost_batches": 0, "lost_sets": 0, "offset": 0}
        st["boot"] += 1
        self.st = st
        self._write_state()
        fs = os.statvfs(self.root)
        self.bs = fs[0]
        self.limit_blocks = int(fs[2] * self.share)
        floor = max(st["acked"], st["dropped"])
        lo = hi = 0
        stale = []
        self.used_blocks = 0
        for ent in os.ilistdir(self.root):
            seq = _seq_of(ent[0])
            if seq is None:
                continue
            if seq <= floor:
                stale.append(seq)
                continue
            lo = seq if lo == 0 or seq < lo else lo
            hi = seq if seq > hi else hi
            self.used_blocks += self._blocks(ent[3] if len(ent) > 3 else os.stat(self._name(seq))[6])
        for seq in stale:
            _remove(self._name(seq))
        self.next = max(hi, floor) + 1
        self.first = lo if lo else self.next
        tmp = self._p("tmp")
        if _exists(tmp):
            if self._check(tmp):
                os.rename(tmp, self._name(self.next))
                self.used_blocks += self._blocks(os.stat(self._name(self.next))[6])
                log.warn("spool", "recovered batch %d written before a reset" % self.next)
                self.next += 1
            else:
                _remove(tmp)
        self.enc = BatchEncoder(st["boot"], self.batch_bytes, self.limits)
        self._opened_ms = time.ticks_ms()
        return self

    def _read_state(self, path):
        try:
            with open(path) as f:
                text, crc = f.read().rsplit("\n", 1)
            if int(crc, 16) != binascii.crc32(text.encode()):
                return None
            return json.loads(text)
        except (OSError, ValueError, KeyError):
            return None

    def _write_state(self):
        text = json.dumps(self.st)
        tmp = self._p("state.tmp")
        with open(tmp, "w") as f:
            f.write(text)
            f.write("\n%08x" % binascii.crc32(text.encode()))
        os.rename(tmp, self._p("state"))

    # -- names and sizes --

    def _p(self, name):
        return self.root + "/" + name

    def _name(self, seq):
        return self.root + "/%08x" % seq

    def _blocks(self, size):
        return (size + self.bs - 1) // self.bs

    def _check(self, path):
        try:
            with open(path, "rb") as f:
                self._read(f, None)
            return True
        except (OSError, SpoolCorrupt):
            return False

    # -- filling --

    @property
    def boot(self):
        return self.st["boot"]

    def put(self, reading):
        """ReadingSink subscriber: one reading set (source, t, clock_ok, values)."""
        source, t, clock_ok, values = reading
        if not clock_ok:
            self._invalid_ref = (int(t), time.ticks_ms())
        self._clock_fix()
        enc = self.enc
        if enc.nsets == 0:
            self._opened_ms = time.ticks_ms()
        if not enc.add(source, t, clock_ok, values):
            self.seal()
            if not enc.add(source, t, clock_ok, values):
                self.errors += 1
                self._lose(1, "a reading set of %s does not fit in one batch" % source)
                return
        self.taken += 1
        if self.age_ms() >= self.seal_max_ms:
            self.seal()

    def age_ms(self):
        if self.enc.nsets == 0:
            return 0
        return time.ticks_diff(time.ticks_ms(), self._opened_ms)

    def _clock_fix(self):
        ref = self._invalid_ref
        if ref is None or self.enc.clock_fix is not None or self.clock is None or not self.clock.valid():
            return
        elapsed = time.ticks_diff(time.ticks_ms(), ref[1]) // 1000
        self.enc.clock_fix = int(self.clock.now()) - (ref[0] + elapsed)

    def seal(self):
        """Write the reading sets gathered so far as the next batch; returns its seq or None."""
        enc = self.enc
        if enc.nsets == 0:
            return None
        self._clock_fix()
        seq = self.next
        self.next += 1       # never reused: the dictionaries remember which seq carried a def
        head = enc.seal(seq)
        body = memoryview(enc.buf)[:enc.pos]
        nsets = enc.nsets
        length = len(head) + len(body)
        need = self._blocks(REC_HDR + length)
        hdr = bytearray(REC_HDR)
        struct.pack_into(_HDR, hdr, 0, REC_MAGIC, 1, nsets, length)
        crc = binascii.crc32(body, binascii.crc32(head, binascii.crc32(memoryview(hdr)[:8])))
        struct.pack_into("<I", hdr, 8, crc)
        enc.reset()
        for attempt in (0, 1):
            self._make_room(need + attempt)
            try:
                tmp = self._p("tmp")
                with open(tmp, "wb") as f:
                    f.write(hdr)
                    f.write(head)
                    f.write(body)
                os.rename(tmp, self._name(seq))
                break
            except OSError as e:
                _remove(self._p("tmp"))
                err = e
        else:
            self.errors += 1
            if self.first == seq:
                self.first = self.next
            self._lose(nsets, "batch %d could not be written (%r)" % (seq, err))
            return None
        self.used_blocks += need
        log.info("spool", "sealed batch %d: %d sets, %d B" % (seq, nsets, length))
        return seq

    def _lose(self, nsets, why):
        self.st["lost_sets"] += nsets
        self._write_state_quietly()
        log.error("spool", "%s: %d reading sets lost" % (why, nsets))

    def _write_state_quietly(self):
        try:
            self._write_state()
        except OSError as e:
            log.error("spool", "state not written: %r" % e)

    def _free_blocks(self):
        return os.statvfs(self.root)[3]

    def _make_room(self, need):
        """Drop the oldest batches until `need` blocks fit within the share and the free space."""
        drop = []
        used = self.used_blocks
        free = self._free_blocks()
        seq = self.first
        fl = self.in_flight
        while seq < self.next - 1 and (used + need > self.limit_blocks or free < need + self.reserve_blocks):
            if fl is not None and fl[0] <= seq <= fl[1]:
                break     # on its way to the collector: room comes with the answer
            try:
                size = os.stat(self._name(seq))[6]
                drop.append((seq, size))
                used -= self._blocks(size)
                free += self._blocks(size)
            except OSError:
                pass
            seq += 1
        if not drop:
            return
        sets = 0
        for s, _ in drop:
            sets += self._sets_in(s)
        st = self.st
        st["dropped"] = max(st["dropped"], drop[-1][0])
        st["lost_batches"] += len(drop)
        st["lost_sets"] += sets
        self._write_state()
        for s, size in drop:
            _remove(self._name(s))
        self.used_blocks = used
        self.first = seq
        log.error("spool", "spool full: dropped the oldest %d batches (%d..%d, %d reading sets)"
                  % (len(drop), drop[0][0], drop[-1][0], sets))

    def _sets_in(self, seq):
        try:
            with open(self._name(seq), "rb") as f:
                hdr = f.read(REC_HDR)
            return struct.unpack_from(_HDR, hdr)[2] if len(hdr) == REC_HDR else 0
        except OSError:
            return 0

    # -- reading and acknowledging --

    def skip_missing(self):
        """Step over batches at the front that are gone (a failed write, a removed file)."""
        while self.first < self.next and self.size_of(self.first) is None:
            self.first += 1

    def pending_count(self):
        return self.next - self.first

    def pending(self):
        """Local seqs that may hold a batch, oldest first."""
        return range(self.first, self.next)

    def _read(self, f, into):
        hdr = f.read(REC_HDR)
        if len(hdr) != REC_HDR:
            raise SpoolCorrupt("short header")
        magic, ver, nsets, length = struct.unpack_from(_HDR, hdr)
        if magic != REC_MAGIC or ver != 1:
            raise SpoolCorrupt("bad header")
        if into is None:
            into = bytearray(length)
        if length > len(into):
            raise SpoolCorrupt("batch of %d B larger than the buffer" % length)
        mv = memoryview(into)[:length]
        if f.readinto(mv) != length:
            raise SpoolCorrupt("short batch")
        if binascii.crc32(mv, binascii.crc32(memoryview(hdr)[:8])) != struct.unpack_from("<I", hdr, 8)[0]:
            raise SpoolCorrupt("checksum mismatch")
        return length

    def read_into(self, seq, buf):
        """Copy batch `seq` into buf (a memoryview); its length, or None if it is gone or bad."""
        try:
            with open(self._name(seq), "rb") as f:
                return self._read(f, buf)
        except OSError as e:
            if self.size_of(seq) is not None:
                self.errors += 1
                self.discard(seq, "unreadable (%r)" % e)
            return None
        except SpoolCorrupt as e:
            self.errors += 1
            self.discard(seq, "corrupt (%s)" % e)
            return None

    def size_of(self, seq):
        try:
            return os.stat(self._name(seq))[6] - REC_HDR
        except OSError:
            return None

    def discard(self, seq, why):
        """Remove one batch that can never be delivered; counted as lost."""
        sets = self._sets_in(seq)
        st = self.st
        st["lost_batches"] += 1
        st["lost_sets"] += sets
        if seq == self.first:
            st["dropped"] = max(st["dropped"], seq)
        self._write_state()
        _remove(self._name(seq))
        if seq == self.first:
            self.first += 1
        log.error("spool", "batch %d %s: discarded, %d reading sets lost" % (seq, why, sets))

    def ack(self, first, last):
        """The collector stored local seqs first..last: forget everything up to `last`."""
        last = min(last, self.next - 1)
        self.enc.confirm(first, last)
        if last < self.first:
            return
        self.st["acked"] = max(self.st["acked"], last)
        self._write_state()
        for seq in range(self.first, last + 1):
            name = self._name(seq)
            try:
                size = os.stat(name)[6]
                os.remove(name)
                self.used_blocks -= self._blocks(size)
            except OSError:
                pass
        self.first = last + 1

    # -- resynchronisation with the collector (after the device lost its state) --

    def effective(self, seq):
        return seq + self.st["offset"]

    def local(self, eff):
        return eff - self.st["offset"]

    def resync(self, boot, last_seq):
        """Move the boot counter and sequence numbers past what the collector has seen."""
        st = self.st
        if boot >= st["boot"]:
            st["boot"] = boot + 1
        if self.effective(self.first) <= last_seq:
            st["offset"] = last_seq - self.first + 1
        self._write_state()
        log.warn("spool", "resynchronised with the collector: boot %d, next seq %d"
                 % (st["boot"], self.effective(self.first)))


def _seq_of(name):
    if len(name) != 8:
        return None
    try:
        return int(name, 16)
    except ValueError:
        return None


def _random_life():
    try:
        b = os.urandom(4)
        return (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) & 0x7FFFFFFF
    except (AttributeError, NotImplementedError, OSError):
        return time.ticks_us() & 0x7FFFFFFF
