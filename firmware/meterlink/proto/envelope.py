"""The signed request around the batches, and the collector's signed answer (docs/protocol.md)."""
from meterlink.proto.auth import TAG_LEN, Hmac, equal
from meterlink.proto.varint import PayloadError, get_uvarint, put_bytes, put_str, put_uvarint, text, uv, zigzag

REQ_MAGIC = 0x4D     # 'M'
ANS_MAGIC = 0x6D     # 'm'
VERSION = 1
ANS_CONFIG, ANS_RESYNC = 1, 2

# status items in the request: id (wire: id << 2 | type 0 uvarint, 1 svarint, 2 text)
ST_CFG_VERSION, ST_DEV_TIME, ST_CLOCK, ST_CSQ, ST_RSSI, ST_TECH, ST_OPERATOR = 1, 2, 3, 4, 5, 6, 7
ST_USAGE_MONTH, ST_USAGE_UP, ST_USAGE_DOWN = 8, 9, 10
ST_LOST_BATCHES, ST_LOST_SETS, ST_PENDING = 11, 12, 13
ST_UPLOAD_FAILS, ST_LOG_ERRORS, ST_LOG_WARNS, ST_TASK_FAILS = 14, 15, 16, 17
ST_FW, ST_MODEM_STATE, ST_MODEM_ERROR, ST_RESET_CAUSE, ST_UPTIME = 18, 19, 20, 21, 22
ST_SIM = 23
# a pushed configuration the device refused, or took and then rolled back: version and reason
ST_CFG_REFUSED_VERSION, ST_CFG_REFUSED, ST_CFG_ROLLED_BACK_VERSION, ST_CFG_ROLLED_BACK = 24, 25, 26, 27


def status_bytes(items):
    """Status items [(id, value)]: int -> uvarint or svarint, str/bytes -> length-prefixed."""
    out = bytearray()
    for sid, v in items:
        if v is None:
            continue
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int):
            if v >= 0:
                out += uv(sid << 2) + uv(v)
            else:
                out += uv((sid << 2) | 1) + uv(zigzag(v))
        else:
            out += uv((sid << 2) | 2) + text(v if isinstance(v, str) else str(v))
    return out


def envelope_head(buf, device_id, life, boot, req, status, nbatches):
    """Write the request's fixed part at buf[0]; returns the position where batches go."""
    buf[0] = REQ_MAGIC
    buf[1] = VERSION
    pos = put_str(buf, 2, device_id)
    pos = put_uvarint(buf, pos, life)
    pos = put_uvarint(buf, pos, boot)
    pos = put_uvarint(buf, pos, req)
    pos = put_bytes(buf, pos, status)
    return put_uvarint(buf, pos, nbatches)


def sign(key, buf, end):
    """Append the tag over buf[:end]; returns the total length."""
    tag = Hmac(key, memoryview(buf)[:end]).digest()[:TAG_LEN]
    buf[end:end + TAG_LEN] = tag
    return end + TAG_LEN


def parse_answer(data, key, req_tag):
    """The collector's answer to the request whose tag was req_tag, checked and decoded."""
    if len(data) < 3 + TAG_LEN or data[0] != ANS_MAGIC or data[1] != VERSION:
        raise PayloadError("not a collector answer")
    body = memoryview(data)[:len(data) - TAG_LEN]
    h = Hmac(key, req_tag)
    h.update(body)
    if not equal(h.digest()[:TAG_LEN], memoryview(data)[len(data) - TAG_LEN:]):
        raise PayloadError("answer tag does not verify")
    flags = data[2]
    ack, pos = get_uvarint(data, 3)
    now, pos = get_uvarint(data, pos)
    out = {"ack": ack, "time": now, "config": None, "resync": None}
    if flags & ANS_RESYNC:
        b, pos = get_uvarint(data, pos)
        r, pos = get_uvarint(data, pos)
        s, pos = get_uvarint(data, pos)
        out["resync"] = (b, r, s)
    if flags & ANS_CONFIG:
        n, pos = get_uvarint(data, pos)
        if pos + n > len(body):
            raise PayloadError("config runs past the answer")
        out["config"] = body[pos:pos + n]     # a view: a site's document is several kB
    return out
