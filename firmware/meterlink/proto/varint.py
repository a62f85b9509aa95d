"""LEB128 varints, zigzag signed integers and length-prefixed text, written into a caller's
buffer at a position (no allocation) or returned as small bytes objects."""


class PayloadError(ValueError):
    pass


def put_uvarint(buf, pos, v):
    """Write v (>= 0) at buf[pos]; returns the next position (IndexError when the buffer is full)."""
    while v >= 0x80:
        buf[pos] = (v & 0x7F) | 0x80
        v >>= 7
        pos += 1
    buf[pos] = v
    return pos + 1


def zigzag(v):
    return v << 1 if v >= 0 else ((-v) << 1) - 1


def put_svarint(buf, pos, v):
    return put_uvarint(buf, pos, zigzag(v))


def put_bytes(buf, pos, b):
    pos = put_uvarint(buf, pos, len(b))
    end = pos + len(b)
    if end > len(buf):
        raise IndexError("buffer full")
    buf[pos:end] = b
    return end


def put_str(buf, pos, s):
    return put_bytes(buf, pos, s.encode() if isinstance(s, str) else s)


def get_uvarint(buf, pos):
    """(value, next position); PayloadError if the varint runs off the end or is too long."""
    v = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise PayloadError("truncated or overlong varint at %d" % pos)
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7


def uv(v):
    """v as a uvarint, in its own bytes."""
    b = bytearray(10)
    return b[:put_uvarint(b, 0, v)]


def text(s):
    """s (str) as length-prefixed UTF-8."""
    e = s.encode()
    return uv(len(e)) + e
