"""The signed configuration document a collector pushes in an upload's answer (docs/protocol.md,
"Configuration document"): checked against the device key and id before its JSON is read.  Pure.
"""
from meterlink.proto.auth import TAG_LEN, Hmac, equal
from meterlink.proto.varint import PayloadError, get_uvarint

MAGIC = 0x43         # 'C'
VERSION = 1


class Refused(ValueError):
    """A pushed document the device does not take; `field` names what is wrong, `version` is
    the version the document claims (0 if it cannot be read), for the report."""

    def __init__(self, field, message, version=0):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.version = version


def open_signed(data, key, device_id):
    """(version, JSON bytes) of a document signed for this device; raises Refused.  The JSON is
    a memoryview into `data` (no copy: MicroPython's json.loads and file writes take it)."""
    if len(data) < 5 + TAG_LEN or data[0] != MAGIC:
        raise Refused("document", "not a meterlink configuration document")
    if data[1] != VERSION:
        raise Refused("document", "format version %d is not supported" % data[1])
    end = len(data) - TAG_LEN
    mv = memoryview(data)
    try:
        n, pos = get_uvarint(data, 2)
        target = bytes(mv[pos:pos + n]).decode()
        version, pos = get_uvarint(data, pos + n)
        n, pos = get_uvarint(data, pos)
    except (PayloadError, UnicodeError) as e:
        raise Refused("document", str(e))
    if pos + n != end:
        raise Refused("document", "its length does not match", version)
    # the version is only reported before this point: nothing is trusted until the tag verifies
    if not key or not equal(Hmac(key, mv[:end]).digest()[:TAG_LEN], mv[end:]):
        raise Refused("signature", "does not verify with the device key", version)
    if target != device_id:
        raise Refused("device", "the document is for %s, this is %s" % (target, device_id), version)
    return version, mv[pos:end]


def check_version(version, doc, running, high):
    """Whether to take `doc` (the parsed JSON) signed as `version`: False if the device already
    runs it; raises Refused for a document that is not newer than every one it has seen."""
    if not isinstance(doc, dict):
        raise Refused("config", "the document must be a JSON object", version)
    if doc.get("version") != version:
        raise Refused("version", "%r in the document, %d in its signature"
                      % (doc.get("version"), version), version)
    if version == running:
        return False
    if version <= running or version <= high:
        raise Refused("version", "%d is not newer than %d (a replayed or older document)"
                      % (version, max(running, high)), version)
    return True
