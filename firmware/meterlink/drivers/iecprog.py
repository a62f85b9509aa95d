"""Programming mode of an IEC 62056-21 meter: P0 operand, P1 password, R2 reads, B0."""
import asyncio

from meterlink.drivers.iecmeter import MeterError, MeterSession
from meterlink.port.uartport import PortTimeout
from meterlink.proto import iec62056 as iec
from meterlink.proto import iecdata


class ProgSession(MeterSession):
    """A MeterSession that also reads single registers in programming mode."""

    async def _command(self, meter, cmd, data=None):
        await asyncio.sleep_ms(self.ident.min_reaction_ms)
        await self._send(iec.command(cmd, data))
        return await self._answer(meter)

    async def _answer(self, meter):
        try:
            frame = await self._recv(self.first_ms(meter), self.gap_ms(meter), iec.message_end,
                                     limit=1024)
            return iec.parse_answer(frame)
        except PortTimeout:
            raise MeterError("timeout", "no answer in programming mode")
        except iec.BccError as e:
            raise MeterError("bcc", str(e))
        except iec.IecError as e:
            raise MeterError("garbage", str(e))

    async def read_registers(self, meter, codes, password=None):
        """Programming mode: {code: (value, unit)} read one by one with R2 (after P1 with the
        password, when one is given); a code the meter refuses maps to None."""
        values = {}
        cap = min(meter.get("max_baudrate", 19200), self.line.get("max_baudrate", 19200),
                  self.rate_cap.get(meter["id"], 19200))
        rate = None
        async with self.port:
            try:
                rate = await self._sign_on(meter, iec.PROGRAMMING, cap)
                kind, body = await self._answer(meter)
                if kind != "command" or body[0] != "P0":
                    raise MeterError("refused", "no P0 after the option select (%s)" % kind)
                if password is not None:
                    kind, _ = await self._command(meter, "P1", "(%s)" % password)
                    if kind != "ack":
                        raise MeterError("refused", "password not accepted")
                for c in codes:
                    kind, payload = await self._command(meter, "R2", c + "()")
                    values[c] = None
                    if kind == "data":
                        sets, _ = iecdata.parse_line(payload)
                        if sets:
                            values[c] = (sets[0][2], sets[0][3])
                self._led("error", False)
                return values
            except (MeterError, iec.IecError) as e:
                self._led("error", True)
                raise e if isinstance(e, MeterError) else MeterError("garbage", str(e))
            finally:
                await self.sign_off(meter, rate)
                self._led("query", False)
                self._led("response", False)
