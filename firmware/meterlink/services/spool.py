"""The flash spool: reading sets batched into checksummed files, kept until the collector acks them.

Each batch is written to `tmp`, then renamed to its sequence number, so a power cut leaves
either the whole batch or none.  `state` (replaced the same way) holds what was acknowledged
and dropped; it is written before the files it covers are deleted.  When the spool's share of
the filesystem is used up the oldest batches are dropped, counted and reported.
"""
import os
import time

from meterlink.proto.payload import BatchEncoder
from meterlink.services import log
from meterlink.services import spoolfile as sf
from meterlink.services.spoolfile import REC_HDR, SpoolCorrupt


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

    def _name(self, seq):
        return sf.seq_name(self.root, seq)

    def _blocks(self, size):
        return (size + self.bs - 1) // self.bs

    def _save(self):
        sf.write_state(self.root, self.st)

    # -- start-up and recovery --

    def open(self):
        """Recover after any reset or power cut and start a new boot (dictionary epoch)."""
        try:
            os.mkdir(self.root)
        except OSError:
            pass
        st = sf.read_state(self.root + "/state.tmp") or sf.read_state(self.root + "/state") or sf.new_state()
        st["boot"] += 1
        self.st = st
        self._save()
        fs = os.statvfs(self.root)
        self.bs = fs[0]
        self.limit_blocks = int(fs[2] * self.share)
        floor = max(st["acked"], st["dropped"])
        lo = hi = 0
        stale = []
        self.used_blocks = 0
        for ent in os.ilistdir(self.root):
            seq = sf.seq_of(ent[0])
            if seq is None:
                continue
            if seq <= floor:
                stale.append(seq)       # acked or dropped just before a reset
                continue
            lo = seq if lo == 0 or seq < lo else lo
            hi = seq if seq > hi else hi
            self.used_blocks += self._blocks(ent[3] if len(ent) > 3 else sf.size(self._name(seq)))
        for seq in stale:
            sf.remove(self._name(seq))
        self.next = max(hi, floor) + 1
        self.first = lo if lo else self.next
        tmp = self.root + "/tmp"
        if sf.exists(tmp):
            if sf.check_record(tmp):    # complete: the reset came between close and rename
                name = self._name(self.next)
                os.rename(tmp, name)
                self.used_blocks += self._blocks(sf.size(name))
                log.warn("spool", "sealed batch %d: %d sets, recovered after a reset"
                         % (self.next, sf.record_sets(name)))
                self.next += 1
            else:
                sf.remove(tmp)
        self.enc = BatchEncoder(st["boot"], self.batch_bytes, self.limits)
        self._opened_ms = time.ticks_ms()
        return self

    @property
    def boot(self):
        return self.st["boot"]

    # -- filling --

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
        """Once the clock is set: how far this boot's unset-clock times are behind UTC."""
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
        need = self._blocks(REC_HDR + len(head) + len(body))
        enc.reset()
        err = None
        for attempt in (0, 1):
            self._make_room(need + attempt)
            try:
                sf.write_record(self.root + "/tmp", self._name(seq), nsets, head, body)
                err = None
                break
            except OSError as e:
                sf.remove(self.root + "/tmp")
                err = e
        if err is not None:
            self.errors += 1
            if self.first == seq:
                self.first = self.next
            self._lose(nsets, "batch %d could not be written (%r)" % (seq, err))
            return None
        self.used_blocks += need
        # `meterlink sim` counts the reading sets taken from these lines
        log.info("spool", "sealed batch %d: %d sets, %d B" % (seq, nsets, len(head) + len(body)))
        return seq

    def _lose(self, nsets, why):
        self.st["lost_sets"] += nsets
        try:
            self._save()
        except OSError as e:
            log.error("spool", "state not written: %r" % e)
        log.error("spool", "%s: %d reading sets lost" % (why, nsets))

    def _make_room(self, need):
        """Drop the oldest batches until `need` blocks fit within the share and the free space."""
        drop = []
        used = self.used_blocks
        free = os.statvfs(self.root)[3]
        seq = self.first
        fl = self.in_flight
        while seq < self.next - 1 and (used + need > self.limit_blocks or free < need + self.reserve_blocks):
            if fl is not None and fl[0] <= seq <= fl[1]:
                break     # on its way to the collector: room comes with the answer
            n = sf.size(self._name(seq))
            if n is not None:
                drop.append((seq, n))
                used -= self._blocks(n)
                free += self._blocks(n)
            seq += 1
        if not drop:
            return
        sets = 0
        for s, _ in drop:
            sets += sf.record_sets(self._name(s))
        st = self.st
        st["dropped"] = max(st["dropped"], drop[-1][0])
        st["lost_batches"] += len(drop)
        st["lost_sets"] += sets
        self._save()
        for s, _ in drop:
            sf.remove(self._name(s))
        self.used_blocks = used
        self.first = seq
        log.error("spool", "spool full: dropped the oldest %d batches (%d..%d, %d reading sets)"
                  % (len(drop), drop[0][0], drop[-1][0], sets))

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

    def size_of(self, seq):
        n = sf.size(self._name(seq))
        return None if n is None else n - REC_HDR

    def read_into(self, seq, buf):
        """Copy batch `seq` into buf (a memoryview); its length, or None if it is gone or bad."""
        try:
            with open(self._name(seq), "rb") as f:
                return sf.read_record(f, buf)
        except OSError as e:
            if self.size_of(seq) is not None:
                self.errors += 1
                self.discard(seq, "unreadable (%r)" % e)
        except SpoolCorrupt as e:
            self.errors += 1
            self.discard(seq, "corrupt (%s)" % e)
        return None

    def discard(self, seq, why):
        """Remove one batch that can never be delivered; counted as lost."""
        sets = sf.record_sets(self._name(seq))
        st = self.st
        st["lost_batches"] += 1
        st["lost_sets"] += sets
        if seq == self.first:
            st["dropped"] = max(st["dropped"], seq)
        self._save()
        sf.remove(self._name(seq))
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
        self._save()
        for seq in range(self.first, last + 1):
            n = sf.size(self._name(seq))
            if n is not None:
                sf.remove(self._name(seq))
                self.used_blocks -= self._blocks(n)
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
        self._save()
        log.warn("spool", "resynchronised with the collector: boot %d, next seq %d"
                 % (st["boot"], self.effective(self.first)))
