# Host board script for the meter benchmarks: the app with only its meter poller, for
# script_args[0] seconds of (virtual) time.
import asyncio

import board
import hostconf
from meterlink import app as appmod
from meterlink.proto import config as configmod

seconds = int((hostconf.conf.get("script_args") or ["60"])[0])


async def main():
    cfg, err = configmod.load("config.json")
    if err:
        raise SystemExit(err)
    app = appmod.App(board.build(), cfg)
    app.setup_capabilities(["meterlink.services.meters"])
    task = asyncio.create_task(app.main())
    await asyncio.sleep(seconds)
    task.cancel()
    for mid, st in sorted(app.meters.status().items()):
        print("@@METER", mid, st["reads"], st["errors"])


asyncio.run(main())
