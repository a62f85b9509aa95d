"""The spool's files on flash: checksummed batch records named by sequence number, and the
state file; both are written under a temporary name and renamed into place."""
import binascii
import json
import os
import struct
import time

REC_MAGIC = 0x53
REC_HDR = 12            # magic, version, reading sets (u16), length (u32), crc32 (u32)
_HDR = "<BBHI"


class SpoolCorrupt(Exception):
    pass


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return None


def seq_name(root, seq):
    return root + "/%08x" % seq


def seq_of(name):
    """The sequence number a batch file name stands for, or None for other files."""
    if len(name) != 8:
        return None
    try:
        return int(name, 16)
    except ValueError:
        return None


def write_record(tmp, path, nsets, head, body):
    """Batch = record header + head + body, written to tmp and renamed to path."""
    hdr = bytearray(REC_HDR)
    struct.pack_into(_HDR, hdr, 0, REC_MAGIC, 1, nsets, len(head) + len(body))
    crc = binascii.crc32(body, binascii.crc32(head, binascii.crc32(memoryview(hdr)[:8])))
    struct.pack_into("<I", hdr, 8, crc)
    with open(tmp, "wb") as f:
        f.write(hdr)
        f.write(head)
        f.write(body)
    os.rename(tmp, path)


def read_record(f, into=None):
    """Read one record's batch bytes into `into` (a new buffer if None); returns the length."""
    hdr = f.read(REC_HDR)
    if len(hdr) != REC_HDR:
        raise SpoolCorrupt("short header")
    magic, ver, _, length = struct.unpack_from(_HDR, hdr)
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


def check_record(path):
    try:
        with open(path, "rb") as f:
            read_record(f)
        return True
    except (OSError, SpoolCorrupt):
        return False


def record_sets(path):
    """The number of reading sets a record says it holds (0 if unreadable)."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(REC_HDR)
        return struct.unpack_from(_HDR, hdr)[2] if len(hdr) == REC_HDR else 0
    except OSError:
        return 0


def new_state():
    return {"life": _random_life(), "boot": 0, "acked": 0, "dropped": 0,
            "lost_batches": 0, "lost_sets": 0, "offset": 0}


def read_state(path):
    try:
        with open(path) as f:
            text, crc = f.read().rsplit("\n", 1)
        if int(crc, 16) != binascii.crc32(text.encode()):
            return None
        return json.loads(text)
    except (OSError, ValueError, KeyError):
        return None


def write_state(root, st):
    text = json.dumps(st)
    tmp = root + "/state.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.write("\n%08x" % binascii.crc32(text.encode()))
    os.rename(tmp, root + "/state")


def _random_life():
    """A random number naming this flash's spool: a new one after the state was lost."""
    try:
        b = os.urandom(4)
        return (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) & 0x7FFFFFFF
    except (AttributeError, NotImplementedError, OSError):
        return time.ticks_us() & 0x7FFFFFFF
