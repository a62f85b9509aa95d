"""TEDAS-2023 serial discovery for the simulated meters: `/@!` answered after a random
50-750 ms with `STX flag+serial ETX BCC`, repeated (3 times) until the terminal confirms with
`STX ACK flag+serial (s) ETX BCC`, after which the meter keeps quiet for s seconds."""
from .meter_data import frame_bcc


class Discoverable:
    """Mixed into IecMeter; uses its rng, gen, _later, _frame and the Device API."""

    def _on_discover(self, t_us):
        self.engaged = False
        if not self.discoverable or t_us < self.muted_until_us:
            return
        self.gen += 1
        self._discovery_tries = 3
        self._discovery_reply(t_us)

    def _discovery_reply(self, t_us):
        delay = self.rng.randint(50, 750) * 1000
        gen = self.gen
        reply = self._frame(b"\x02" + self.address.encode())

        def retry():
            if gen == self.gen and self._discovery_tries > 0 and self.now_us() >= self.muted_until_us:
                self._discovery_tries -= 1
                self._discovery_reply(self.now_us())
        self.stats["discovery_replies"] += 1
        self._later(t_us + delay, reply,
                    lambda: self.loop.call_at((self.busy_until() + 1_500_000) / 1e6, retry))

    def _on_confirm(self, frame):
        if frame_bcc(frame[1:-1]) != frame[-1] & 0x7F:
            return
        body = frame[2:-2].decode("ascii", "replace")
        addr, _, rest = body.partition("(")
        if addr.strip() != self.address:
            return
        seconds = int(rest.rstrip(")") or 120) if rest.rstrip(")").isdigit() else 120
        self.muted_until_us = self.now_us() + seconds * 1_000_000
        self.stats["confirmed"] += 1
        self.gen += 1
