"""`meterlink bench`: the benchmark figures, one JSON object per line.

Each figure is a function in a module listed in FIGURES; it returns a list of
{"figure": NAME, "value": NUMBER, "unit": "...", ...} dicts (limits as "goal" where the issue
names one).  Benchmarks report; tests assert behaviour.
"""
import importlib
import json
import sys
import time

# (figure name, "module:function")
FIGURES = [
    ("heap_peak_kb_site_s", "bench_heap:heap_peak_site_s"),
    ("heap_peak_kb_site_l", "bench_heap:heap_peak_site_l"),
    ("rs485_meters_cycle_ratio", "bench_meters:rs485_cycle"),
    ("optical_session_ratio", "bench_meters:optical_session"),
    ("uplink_mb_month_site_s_sim7600", "bench_uplink:mb_month_sim7600"),
    ("uplink_mb_month_site_s_sim800", "bench_uplink:mb_month_sim800"),
    ("uplink_mb_month_naive_json", "bench_uplink:mb_month_naive_json"),
    ("boot_to_first_upload_s", "bench_uplink:boot_to_first_upload"),
    ("modbus_cycle_ratio", "bench_modbus:cycle_ratio"),
    ("heap_peak_kb_modbus_247", "bench_modbus:heap_peak"),
]


def main(args):
    only = set(args.only or [])
    failed = False
    for name, target in FIGURES:
        if only and name not in only:
            continue
        mod, fn = target.split(":")
        t0 = time.monotonic()
        try:
            rows = getattr(importlib.import_module("meterlink_tools." + mod), fn)()
        except Exception as e:   # noqa: BLE001  one broken figure must not hide the others
            failed = True
            rows = [{"figure": name, "value": None, "error": repr(e)}]
        for row in rows:
            row.setdefault("bench_wall_s", round(time.monotonic() - t0, 2))
            print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(type("A", (), {"only": sys.argv[1:]})()))
