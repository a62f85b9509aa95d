# Reads the captured device answers in host_tests/fixtures/*.cap (MicroPython and CPython).
# Lines starting with '#' describe the capture; the other lines are concatenated (their own
# line breaks are not data) and `<NAME>` / `<0xNN>` stand for one control byte.
FIXTURES = "host_tests/fixtures/"
NAMES = {"NUL": 0x00, "SOH": 0x01, "STX": 0x02, "ETX": 0x03, "EOT": 0x04, "ACK": 0x06,
         "LF": 0x0A, "CR": 0x0D, "NAK": 0x15, "DEL": 0x7F}


def decode(text):
    out = bytearray()
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        i = 0
        while i < len(line):
            c = line[i]
            k = line.find(">", i) if c == "<" else -1
            token = line[i + 1:k] if k > 0 else ""
            if token in NAMES:
                out.append(NAMES[token])
                i = k + 1
            elif token.startswith("0x") and len(token) == 4:
                out.append(int(token[2:], 16))
                i = k + 1
            else:
                out.extend(c.encode())
                i += 1
    return bytes(out)


def load(name, root=""):
    with open(root + FIXTURES + name) as f:
        return decode(f.read())
