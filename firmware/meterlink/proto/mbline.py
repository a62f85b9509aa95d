"""Modbus line settings text ('9600 8E1') and the defaults of a modbus[] entry: what the
poller needs of the configuration (the full checks are in configschema)."""

BAUDS = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)
PARITIES = {"N": None, "E": 0, "O": 1}     # machine.UART parity values

# what an entry may leave out
ENTRY_DEFAULTS = {"port": "rs485", "line": "9600 8N1", "period_s": None,
                  "timeout_ms": 1000, "retries": 1, "gap_ms": 0}


def parse_line(text):
    """'9600 8E1' -> (9600, 8, 0, 1): baud, data bits, UART parity (None, 0 even, 1 odd),
    stop bits.  ValueError says what is wrong."""
    if not isinstance(text, str):
        raise ValueError("line must be text like '9600 8N1'")
    parts = text.split()
    if len(parts) != 2 or len(parts[1]) != 3:
        raise ValueError("line %r: expected '<baud> <bits><parity><stop>', e.g. '9600 8N1'" % text)
    try:
        baud = int(parts[0])
    except ValueError:
        baud = 0
    if baud not in BAUDS:
        raise ValueError("line %r: baud rate one of %s" % (text, ", ".join(str(b) for b in BAUDS)))
    bits, par, stop = parts[1][0], parts[1][1].upper(), parts[1][2]
    if bits != "8":
        raise ValueError("line %r: Modbus RTU sends 8 data bits" % text)
    if par not in PARITIES:
        raise ValueError("line %r: parity N, E or O" % text)
    if stop not in "12":
        raise ValueError("line %r: 1 or 2 stop bits" % text)
    return (baud, 8, PARITIES[par], int(stop))


def entry(e, key):
    """A field of a modbus[] entry, or its default."""
    v = e.get(key)
    return ENTRY_DEFAULTS.get(key) if v is None else v
