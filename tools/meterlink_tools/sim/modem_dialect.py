"""What both simulated SIMCom modems answer alike: identification, SIM, signal, registration,
radio, clock and the simulator's own AT+SIMCTL; modem_models.py holds the two dialects."""
import time as _time

from .modem_http import HttpService

SIM_BOOT_URC = {"ready": "+CPIN: READY", "pin": "+CPIN: SIM PIN", "puk": "+CPIN: SIM PUK"}
CME = {"absent": (10, "SIM not inserted"), "pin": (11, "SIM PIN required"),
       "puk": (12, "SIM PUK required")}


def _parse_value(text):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


class Dialect:
    BOOT_S = 5.0
    ON_PULSE_MIN_MS = 100
    OFF_PULSE_MIN_MS = 1500
    CMD_DELAY_S = 0.01
    REG_NAMES = ("CREG", "CGREG")
    HTTPDATA_MAX = 160000
    CSQ = {"LTE": 22, "GSM": 17}

    def __init__(self, modem):
        self.m = modem
        self.http = HttpService(modem, self)
        self.reg_gen = 0
        self.cmds = {
            "E": self.cmd_echo, "I": self.cmd_ati, "&W": self.ok, "+IPR": self.ok, "+CMGF": self.ok,
            "+CNMI": self.ok, "+CSCS": self.ok, "+CSCLK": self.ok, "+CMEE": self.cmd_cmee,
            "+CGMM": lambda op, a: self.m.reply([self.MODEL_NAME]),
            "+CGMR": lambda op, a: self.m.reply([self.REVISION]),
            "+GSN": lambda op, a: self.m.reply(["864866050000017"]),
            "+CPIN": self.cmd_cpin, "+CSQ": self.cmd_csq, "+COPS": self.cmd_cops,
            "+CREG": self.cmd_reg, "+CGREG": self.cmd_reg, "+CFUN": self.cmd_cfun,
            "+CCLK": self.cmd_cclk, "+SIMCTL": self.cmd_simctl,
        }
        self.cmds.update(self.http.commands())

    def reset(self):
        self.http.reset()
        self.reg_gen += 1

    def dispatch(self, name, op, args):
        fn = self.cmds.get(name)
        if fn is None:
            return self.m.reply((), "ERROR")
        self._name = name
        fn(op, args)

    def ok(self, op, args):
        self.m.reply()

    # -- common commands --

    def cmd_echo(self, op, args):
        self.m.echo = args.strip() != "0"
        self.m.reply()

    def cmd_ati(self, op, args):
        self.m.reply(["Manufacturer: SIMCOM INCORPORATED", "Model: " + self.MODEL_NAME,
                      "Revision: " + self.REVISION])

    def cmd_cmee(self, op, args):
        if op == "?":
            return self.m.reply(["+CMEE: %d" % self.m.cmee])
        self.m.cmee = int(args[0])
        self.m.reply()

    def sim_state(self):
        return self.m.sw["sim"] if self.m.cfun == 1 else "off"

    def cmd_cpin(self, op, args):
        m = self.m
        st = self.sim_state()
        if op == "=":
            m.pin_attempts += 1
            m.event("pin_entered", "a PIN was sent to the SIM")
            return m.error(16, "incorrect password", 0.3)
        if st == "ready":
            return m.reply(["+CPIN: READY"], delay_s=0.05)
        if st in ("pin", "puk"):
            return m.reply([SIM_BOOT_URC[st]], delay_s=0.05)
        if st == "off":
            return m.error(13, "SIM failure", 0.05)
        return m.error(*CME["absent"], delay_s=0.05)

    def registered(self):
        return any(self.m.reg[n] in (1, 5) for n in self.REG_NAMES)

    def cmd_csq(self, op, args):
        m = self.m
        csq = self.CSQ.get(m.rat, 99) if m.rat and m.sw[m.rat.lower()] else 99
        m.reply(["+CSQ: %d,99" % csq])

    def cmd_cops(self, op, args):
        m = self.m
        if op == "?":
            if self.registered():
                return m.reply(['+COPS: 0,0,"Meterlink Mobile",%d' % (7 if m.rat == "LTE" else 0)],
                               delay_s=0.05)
            return m.reply(["+COPS: 0"], delay_s=0.05)
        m.reply()

    def cmd_reg(self, op, args):
        m = self.m
        name = self._name[1:]
        if op == "=":
            m.urc_reg[name] = int(args[0]) if args else 0
            return m.reply()
        if op == "?":
            return m.reply(["+%s: %d,%d" % (name, m.urc_reg[name], m.reg[name])])
        m.reply((), "ERROR")

    def cmd_cfun(self, op, args):
        m = self.m
        if op == "?":
            return m.reply(["+CFUN: %d" % m.cfun])
        if op != "=" or not args:
            return m.reply((), "ERROR")
        v = int(args[0])
        if len(args) > 1 and args[1] == "1":
            m.reply()
            return m.later(0.2, m.reboot, "AT+CFUN=%d,1" % v)
        was = m.cfun
        m.cfun = v
        m.event("cfun", str(v))
        if v != 1:
            if m.sw["reg_denied"] == "until_cfun":
                m.sw["reg_denied"] = False
            m.pdp = False
            self.reg_apply({n: 0 for n in self.REG_NAMES}, None, self.reg_gen)
            return m.reply(delay_s=0.8)
        m.reply(delay_s=1.0)
        if was != 1:
            self.sim_urcs(1.2)
            m.later(1.0, self.reg_update)

    def cmd_cclk(self, op, args):
        m = self.m
        if op != "?":
            return m.reply()
        if m.rtc_set:
            t, tz = m.epoch + m.now() + m.tz_quarters * 900, m.tz_quarters
        else:
            t, tz = self.RTC_DEFAULT + (m.now() - m.boot_t), 0
        tm = _time.gmtime(int(t))
        m.reply(['+CCLK: "%02d/%02d/%02d,%02d:%02d:%02d%+03d"'
                 % (tm.tm_year % 100, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tz)])

    def cmd_simctl(self, op, args):
        """Simulator only: AT+SIMCTL="switch",value, or an action: "reboot"|"brownout"|
        "pdp_drop"|"sms"|"hang"|"sim_removed"[,delay s], "urc","<line>" (an unsolicited line)."""
        m = self.m
        if not args:
            return m.reply((), "ERROR")
        name = args[0]
        value = _parse_value(args[1]) if len(args) > 1 else True
        actions = {"reboot": lambda: m.reboot("AT+SIMCTL"), "brownout": m.brownout,
                   "pdp_drop": lambda: self.pdp_drop(), "sms": lambda: m.urc('+CMTI: "SM",1'),
                   "hang": m.hang, "urc": lambda: m.urc(str(value)),
                   "sim_removed": m.remove_sim}
        if name not in actions:
            try:
                m.set(name, value)
            except KeyError:
                return m.reply((), "ERROR")
            return m.reply()
        m.reply()
        delay = value if name != "urc" and not isinstance(value, (bool, str)) else 0
        m.later(0.05 + delay, actions[name])

    # -- registration --

    def sim_urcs(self, delay):
        """What the modem says when it has (re)read its SIM."""
        m = self.m
        st = m.sw["sim"]
        if st in SIM_BOOT_URC:
            m.urc(SIM_BOOT_URC[st], delay)
        else:
            m.urc(self.NO_SIM_URC, delay)
        if st == "ready":
            for i, line in enumerate(self.SIM_READY_URCS):
                m.urc(line, delay + 1.0 + i)

    def modes(self):
        """(LTE allowed, GSM allowed) by the network mode setting."""
        return False, True

    def reg_target(self):
        m, sw = self.m, self.m.sw
        names = self.REG_NAMES
        if m.state != "on" or m.cfun != 1 or sw["sim"] != "ready":
            return {n: 0 for n in names}, None, 0
        lte, gsm = self.modes()
        if sw["reg_denied"]:
            return {n: 3 for n in names}, ("LTE" if lte and sw["lte"] else "GSM"), 5.0
        if lte and sw["lte"]:
            if sw["sim_2g_only"]:
                return {n: (3 if n == "CEREG" else 0) for n in names}, "LTE", 5.0
            return {n: 1 for n in names}, "LTE", 4.0
        if gsm and sw["gsm"]:
            return {n: (0 if n == "CEREG" else 1) for n in names}, "GSM", 7.0
        return {n: 2 for n in names}, None, 0

    def reg_update(self):
        m = self.m
        self.reg_gen += 1
        target, rat, delay = self.reg_target()
        if target == m.reg and rat == m.rat:
            return
        if delay:
            self.reg_apply({n: 2 for n in self.REG_NAMES}, None, self.reg_gen)
            m.later(delay, self.reg_apply, target, rat, self.reg_gen)
        else:
            self.reg_apply(target, rat, self.reg_gen)

    def reg_apply(self, target, rat, gen):
        m = self.m
        if gen != self.reg_gen:
            return
        for n in self.REG_NAMES:
            if m.reg[n] != target[n]:
                m.reg[n] = target[n]
                if m.urc_reg[n]:
                    m.urc("+%s: %d" % (n, target[n]))
        m.rat = rat
        if self.registered():
            m.event("registered", rat)
            if m.sw["nitz"] and self.nitz_enabled():
                m.rtc_set = True
        elif m.pdp:
            self.pdp_drop()

    def pdp_drop(self, during_http=False):
        raise NotImplementedError
