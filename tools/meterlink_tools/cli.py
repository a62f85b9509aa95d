"""The `meterlink` command: a table of subcommands, each with a short help text.

Exit codes: 0 success, 1 the work failed (a bad frame, a refused config...), 2 bad usage or a
command this version does not have yet.
"""
import argparse
import sys

COMMANDS = {}


def command(name, help):
    def deco(fn):
        COMMANDS[name] = (fn, help)
        return fn
    return deco


def not_built(name, issue):
    def run(args):
        print("meterlink %s: not built yet (%s)" % (name, issue), file=sys.stderr)
        return 2
    return run


def _add_sim(sub):
    p = sub.add_parser("sim", help="run a whole simulated site on the host board and summarise it")
    p.add_argument("--site", choices=("small", "large", "none"), default="small",
                   help="reference site: small = site S, large = site L, none = the bare terminal")
    p.add_argument("--modem", choices=("sim7600", "sim800"), default="sim7600")
    p.add_argument("--duration", default="10m", help="simulated time to run, e.g. 90s, 10m, 24h")
    p.add_argument("--period", type=float, default=None, metavar="MIN",
                   help="send period in minutes (1-240)")
    p.add_argument("--speed", default="max",
                   help="time acceleration: N times real time, or max (as fast as it can)")
    p.add_argument("--outage", action="append", default=[], metavar="START+LENGTH",
                   help="the server is unreachable from START for LENGTH, e.g. 2h+6h")
    p.add_argument("--push", action="append", default=[], metavar="TIME:FILE",
                   help="queue a configuration at the collector at TIME, e.g. 5m:site.json (the "
                        "site's configuration with FILE merged over it, the next version)")
    p.add_argument("--forever", action="store_true", help="keep running until Ctrl-C")
    p.add_argument("--json", action="store_true", help="end with one JSON summary line")
    p.add_argument("--rundir", default=None, help="where the run's files go (default: a temp dir)")
    p.add_argument("--heapsize", default=None, help="MicroPython heap, e.g. 256K")
    p.set_defaults(func=lambda a: _lazy("simrun", "main")(a))


def _add_bench(sub):
    p = sub.add_parser("bench", help="the benchmarks, one JSON object per figure")
    p.add_argument("--json", action="store_true", help="JSON lines (the default format)")
    p.add_argument("--only", action="append", default=[], help="run only this figure (repeatable)")
    p.set_defaults(func=lambda a: _lazy("bench", "main")(a))


def _lazy(module, fn):
    import importlib
    return getattr(importlib.import_module("meterlink_tools." + module), fn)


# Modules that add commands with @command (imported when the parser is built).
COMMAND_MODULES = [
    "collector.cli",
    "collector.manage_cli",
    "meters_cli",
    "configcmd",
    "deploy",
    "flash",
    "provision",
    "replcmd",
    "vdevcmd",
]

PENDING = []


def build_parser():
    ap = argparse.ArgumentParser(prog="meterlink", description="meterlink host tools")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    _add_sim(sub)
    _add_bench(sub)
    import importlib
    for mod in COMMAND_MODULES:
        importlib.import_module("meterlink_tools." + mod)
    for name, (fn, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help)
        getattr(fn, "configure", lambda p: None)(p)
        p.set_defaults(func=fn)
    for name, help, issue in PENDING:
        if name in sub.choices:
            continue
        p = sub.add_parser(name, help=help + " (not built yet)")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=not_built(name, issue))
    return ap


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("meterlink: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`meterlink readings ... | head`): no traceback at exit either
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    # command modules register with meterlink_tools.cli, which is not this __main__ module
    from meterlink_tools import cli as _cli
    sys.exit(_cli.main())
