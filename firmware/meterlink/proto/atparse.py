"""Field parsing for SIMCom AT answers: registration, signal, operator, SIM, clock, HTTP.

Pure functions on str lines (3GPP TS 27.007 and the SIMCom manuals' formats).
"""

# +CxREG <stat>: 1 registered (home), 5 registered (roaming); 3 denied; 2 searching
REG_HOME = 1
REG_SEARCHING = 2
REG_DENIED = 3
REG_ROAMING = 5

# +COPS <AcT> -> technology
_ACT_TECH = {0: "2G", 1: "2G", 3: "2G", 8: "2G", 2: "3G", 4: "3G", 5: "3G", 6: "3G", 7: "4G"}
_CPSI_TECH = {"LTE": "4G", "GSM": "2G", "WCDMA": "3G", "TDS-CDMA": "3G", "CDMA": "3G", "EVDO": "3G"}


def fields(line):
    """The comma-separated fields after 'NAME:' with quotes removed ('+X: 1,"a,b"' -> ['1', 'a,b'])."""
    i = line.find(":")
    s = line[i + 1:] if i >= 0 else line
    out = []
    cur = ""
    quoted = False
    for c in s:
        if c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    out.append(cur.strip())
    if out == [""]:
        return []
    return out


def to_int(s, default=None):
    try:
        return int(s)
    except (ValueError, TypeError):
        return default


def is_registered(stat):
    return stat == REG_HOME or stat == REG_ROAMING


def reg_query_stat(line):
    """<stat> of a query answer '+CREG: <n>,<stat>[,...]' (None if it is the URC form)."""
    f = fields(line)
    if len(f) < 2:
        return None
    return to_int(f[1])


def is_reg_query(line):
    return len(fields(line)) >= 2


def reg_urc_stat(line):
    """<stat> of an unsolicited '+CREG: <stat>' (enabled with AT+CREG=1: one field)."""
    f = fields(line)
    return to_int(f[0]) if f else None


def csq(line):
    """'+CSQ: <rssi>,<ber>' -> rssi 0..31, or None when unknown (99)."""
    f = fields(line)
    v = to_int(f[0]) if f else None
    if v is None or v == 99 or v < 0 or v > 31:
        return None
    return v


def rssi_dbm(csq_value):
    """3GPP TS 27.007: dBm = -113 + 2 * rssi."""
    if csq_value is None:
        return None
    return -113 + 2 * csq_value


def cops(line):
    """'+COPS: 0,0,"Operator",7' -> (name or None, tech or None)."""
    f = fields(line)
    name = f[2] if len(f) >= 3 and f[2] else None
    act = to_int(f[3]) if len(f) >= 4 else None
    return name, _ACT_TECH.get(act)


def cdnsgip(line):
    """'+CDNSGIP: 1,"host","1.2.3.4"' -> '1.2.3.4' (None for a failed lookup)."""
    f = fields(line)
    if len(f) >= 3 and f[0] == "1" and is_ip(f[2]):
        return f[2]
    return None


def cpsi(line):
    """'+CPSI: LTE,Online,250-20,...' -> (tech or None, 'MCC-MNC' or None)."""
    f = fields(line)
    if not f or f[0] == "NO SERVICE":
        return None, None
    tech = _CPSI_TECH.get(f[0])
    plmn = f[2] if len(f) >= 3 and "-" in f[2] else None
    return tech, plmn


def cpin(line):
    """SIM state from '+CPIN: ...', '+SIMCARD: ...' or a +CME error text/code.

    ready | pin | puk | locked (other PINs) | absent | not_ready | failure | busy | unknown
    """
    if line.startswith("+SIMCARD:"):
        return "absent" if "NOT AVAILABLE" in line.upper() else "unknown"
    if line.startswith("+CME ERROR:"):
        rest = line[11:].strip().upper()
        code = to_int(rest)
        if code == 10 or "NOT INSERTED" in rest:
            return "absent"
        if code == 11 or rest == "SIM PIN REQUIRED":
            return "pin"
        if code == 12 or rest == "SIM PUK REQUIRED":
            return "puk"
        if code == 13 or code == 15 or "FAILURE" in rest or "WRONG" in rest:
            return "failure"
        if code == 14 or "BUSY" in rest:
            return "busy"
        return "unknown"
    v = line[line.find(":") + 1:].strip().upper()
    if v == "READY":
        return "ready"
    if v == "SIM PIN":
        return "pin"
    if v == "SIM PUK":
        return "puk"
    if v == "NOT INSERTED" or v == "SIM REMOVED":
        return "absent"
    if v == "NOT READY":
        return "not_ready"
    if v == "SIM CRASH" or v == "SIM ERROR":
        return "failure"
    if "PIN" in v or "PUK" in v:
        return "locked"
    return "unknown"


def cgev_cid(line):
    """The context a '+CGEV: ... DEACT' event names, or None (none named: a detach)."""
    i = line.find("DEACT")
    if i < 0:
        return None
    f = fields(":" + line[i + 5:])
    if not f:
        return None
    if "PDN" in line[:i]:
        return to_int(f[0])                   # NW|ME PDN DEACT <cid>[,...]
    if len(f) >= 3 and not f[0].isdigit():
        return to_int(f[2])                   # NW|ME DEACT <PDP_type>,<PDP_addr>,<cid>
    if len(f) >= 2:
        return to_int(f[1])                   # NW|ME DEACT <p_cid>,<cid>,<event_type>
    return None


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def cclk(line):
    """'+CCLK: "yy/MM/dd,hh:mm:ss+zz"' (zz in quarter hours of local time) -> Unix seconds UTC."""
    q1 = line.find('"')
    q2 = line.find('"', q1 + 1)
    if q1 < 0 or q2 < 0:
        return None
    s = line[q1 + 1:q2]
    try:
        date, tm = s.split(",")
        yy, mo, dd = [int(x) for x in date.split("/")]
        tz = 0
        for sign in "+-":
            k = tm.find(sign)
            if k >= 0:
                tz = int(tm[k + 1:]) * (1 if sign == "+" else -1)
                tm = tm[:k]
                break
        hh, mi, ss = [int(x) for x in tm.split(":")]
    except ValueError:
        return None
    if not (1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60 and ss < 61):
        return None
    year = yy + (1900 if yy >= 70 else 2000)     # an unset SIM7600 clock shows 80/01/06
    local = days_from_civil(year, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss
    return local - tz * 900


def httpaction(line):
    """'+HTTPACTION: <method>,<status>,<length>' -> (status, length) or (None, 0)."""
    f = fields(line)
    if len(f) < 3:
        return None, 0
    return to_int(f[1]), to_int(f[2], 0)


def split_url(url):
    """'http://host:port/path' -> (scheme, host, port or None, path)."""
    i = url.find("://")
    scheme = url[:i].lower() if i > 0 else "http"
    rest = url[i + 3:] if i > 0 else url
    j = rest.find("/")
    hostport = rest if j < 0 else rest[:j]
    path = "/" if j < 0 else rest[j:]
    port = None
    k = hostport.rfind(":")
    if k > 0 and hostport[k + 1:].isdigit():
        port = int(hostport[k + 1:])
        hostport = hostport[:k]
    return scheme, hostport, port, path


def is_ip(host):
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
