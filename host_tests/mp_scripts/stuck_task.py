# Host board script: the real boot.py, then the real app with one extra task that never
# reports to the watchdog (a hung capability).  Safe mode is honoured as main.py does.
import asyncio

import hostconf

exec(open(hostconf.conf["app_dir"] + "/boot.py").read())

from meterlink.services import bootguard  # noqa: E402

reason = bootguard.safe_mode_reason()
if reason:
    print("SAFE MODE:", reason)
else:
    from meterlink import app as appmod

    a = appmod.build()

    async def stuck():
        while True:
            await asyncio.sleep(3600)

    a.add_task("stuck", stuck, 10)
    asyncio.run(a.main())
