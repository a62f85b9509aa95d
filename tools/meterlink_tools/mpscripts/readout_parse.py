# Runs inside MicroPython: parses a captured IEC 62056-21 answer with the firmware's parser.
# Usage: micropython readout_parse.py FILE.  Prints one JSON object per line:
# {"ident": ...} | {"set": ...} | {"bad_line": ...} | {"block": ...} | {"error": ...}
import json
import sys

from meterlink.proto import iec62056 as iec
from meterlink.proto import iecdata
from meterlink.proto.iecreadout import BlockReader


def out(obj):
    sys.stdout.write(json.dumps(obj))
    sys.stdout.write("\n")


def on_line(line):
    try:
        sets, ended = iecdata.parse_line(line)
    except iec.IecError as e:
        out({"bad_line": "".join(chr(c) if 32 <= c < 127 else "\\x%02x" % c for c in line),
             "error": str(e)})
        return
    for address, index, value, unit in sets:
        out({"set": {"address": address, "code": iecdata.code(address), "index": index,
                     "value": value, "unit": unit}})
    if ended:
        out({"end": True})


def bare_lf_parity(data, start, end):
    # CR LF saved as LF: each missing CR would have changed the BCC by 0x0D
    n = 0
    for i in range(start, end):
        if data[i] == 0x0A and (i == 0 or data[i - 1] != 0x0D):
            n += 1
    return n & 1


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    k = data.find(b"\n")
    k = len(data) if k < 0 else k + 1
    if iec.ident_start(data[:k]) >= 0:      # the identification, maybe behind wake-up noise
        try:
            d = iec.parse_ident(data[:k])
            out({"ident": {"text": d.text, "flag": d.flag, "mode": d.mode, "baud": d.baud,
                           "baud_char": d.baud_char, "generation": d.generation,
                           "escape": d.escape, "ident": d.ident, "min_reaction_ms": d.min_reaction_ms}})
        except iec.IecError as e:
            out({"error": "identification: %s" % e})
        i = k
    while i < len(data) and data[i] == 0x06:        # our own option select, captured too
        k = data.find(b"\n", i)
        i = len(data) if k < 0 else k + 1
    if data.find(b"\x02", i) < 0:
        # the bare data block: lines only, no BCC to check
        for raw in data[i:].split(b"\n"):
            raw = raw.rstrip(b"\r")
            if raw:
                on_line(raw)
        out({"block": {"bcc": None}})
        return
    r = BlockReader(junk_max=len(data))
    while i < len(data):
        start = data.find(b"\x02", i)
        try:
            end = r.feed(data[i:], on_line)
        except iec.IecError as e:
            out({"error": str(e)})
            return
        if end < 0:
            out({"error": "the data message ends without ETX and BCC (truncated?)"})
            return
        stop = i + end - 1
        got = data[stop]
        want = iec.bcc(data, start + 1, stop)
        ok = r.block_ok
        restored = False
        if not ok and want ^ (0x0D if bare_lf_parity(data, start + 1, stop) else 0) == got & 0x7F:
            ok = restored = True
        out({"block": {"bcc": ok, "got": got, "computed": want, "last": r.last,
                       "restored_crlf": restored, "number": r.blocks}})
        i += end
        if r.last:
            break
    if i < len(data) and data[i:].strip():
        out({"error": "%d bytes after the data message" % (len(data) - i)})


main(sys.argv[1])
