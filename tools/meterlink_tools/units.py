"""Durations as people type them: 90s, 10m, 24h, 2d, or plain seconds."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text):
    """Seconds in `text`; raises ValueError with a readable message."""
    t = str(text).strip().lower()
    if not t:
        raise ValueError("empty duration")
    unit = t[-1]
    if unit in _UNITS:
        num = t[:-1]
        mult = _UNITS[unit]
    else:
        num, mult = t, 1
    try:
        value = float(num)
    except ValueError:
        raise ValueError("not a duration: %r (use e.g. 90s, 10m, 24h)" % text) from None
    if value < 0:
        raise ValueError("negative duration: %r" % text)
    return value * mult


def parse_window(text):
    """'2h+6h' -> (7200, 21600): a start and a length."""
    if "+" not in text:
        raise ValueError("not a window: %r (use START+LENGTH, e.g. 2h+6h)" % text)
    a, b = text.split("+", 1)
    return parse_duration(a), parse_duration(b)


def fmt_duration(seconds):
    s = int(round(seconds))
    if s % 3600 == 0 and s >= 3600:
        return "%dh" % (s // 3600)
    if s % 60 == 0 and s >= 60:
        return "%dm" % (s // 60)
    return "%ds" % s
