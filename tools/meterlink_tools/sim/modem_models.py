"""The two dialects of the simulated modem: what a SIM7600 and a SIM800 answer (after the
SIMCom AT manuals and the field logs quoted in shared/reference/cellular-modem-at.md)."""
from .modem_dialect import Dialect

# what the simulated network's DNS answers for any name (TEST-NET-2); the modem's HTTP bridge
# takes every request to the site's server whatever address the URL names
SERVER_ADDRESS = "198.51.100.7"
DNS_FAIL_DELAY_S = 10.0


class Sim7600(Dialect):
    MODEL_NAME = "SIMCOM_SIM7600G-H"
    REVISION = "LE20B04SIM7600G22"
    BOOT_S = 12.0                     # LilyGO waits up to 15 s before the first AT
    ON_PULSE_MIN_MS = 100
    OFF_PULSE_MIN_MS = 2500
    REG_NAMES = ("CREG", "CGREG", "CEREG")
    RTC_DEFAULT = 315964800           # 1980-01-06, what a SIM7600 clock shows until set
    NO_SIM_URC = "+SIMCARD: NOT AVAILABLE"
    SIM_LOST_URCS = ("+CPIN: SIM REMOVED", "+SIMCARD: NOT AVAILABLE")
    SIM_READY_URCS = ("SMS DONE", "PB DONE")
    DOWNLOAD = b"\r\nDOWNLOAD"        # the prompt comes without a line end
    HTTP_CODES = {"dns": 713, "connect": 714, "nonet": 717, "timeout": 705}

    def __init__(self, modem):
        super().__init__(modem)
        self.cnmp = 2                  # kept in the modem's NV memory across restarts
        self.cmds.update({
            "+CNMP": self.cmd_cnmp, "+CEREG": self.cmd_reg, "+CPSI": self.cmd_cpsi,
            "+CGDCONT": self.cmd_cgdcont, "+CGAUTH": self.ok, "+CTZU": self.cmd_ctzu, "+CTZR": self.ok,
            "+NETOPEN": self.cmd_netopen, "+NETCLOSE": self.cmd_netclose, "+IPADDR": self.cmd_ipaddr,
            "+CPOF": self.cmd_cpof, "+CRESET": self.cmd_creset, "+CSSLCFG": self.ok,
            "+CICCID": lambda op, a: self.m.reply(["+ICCID: 8949020000012345678"]),
            "+CNTP": self.cmd_cntp, "+HTTPREAD": self.http.cmd_read_7600,
            "+CDNSGIP": self.cmd_cdnsgip,
        })

    def reset(self):
        super().reset()
        self.ctzu = False

    def boot_urcs(self):
        self.m.first_line("RDY")
        self.sim_urcs(0.5)

    def shutdown_urc(self):
        pass

    def brownout_urc(self):
        pass

    def nitz_enabled(self):
        return self.ctzu

    def modes(self):
        return self.cnmp in (2, 38, 39, 51, 54, 67), self.cnmp in (2, 13, 19, 39, 48, 51, 60, 63, 67)

    def http_headers(self, netloc, content, length, method):
        h = [("Host", netloc), ("User-Agent", "SIMCOM_MODULE"), ("Accept", "*/*"),
             ("Connection", "Keep-Alive")]
        if method == 1:
            h += [("Content-Type", content or "text/plain"), ("Content-Length", str(length))]
        return h

    def cmd_cnmp(self, op, args):
        m = self.m
        if op == "?":
            return m.reply(["+CNMP: %d" % self.cnmp])
        mode = int(args[0])
        if mode not in (2, 13, 14, 38, 39, 48, 51, 54, 59, 60, 63, 67):
            return m.error(4, "operation not supported")
        self.cnmp = mode
        m.event("cnmp", str(mode))
        m.reply(delay_s=0.3)
        m.later(0.3, self.reg_update)

    def cmd_cpsi(self, op, args):
        m = self.m
        if m.rat == "LTE" and m.sw["lte"]:
            line = "+CPSI: LTE,Online,262-01,0x4D07,200468759,468,EUTRAN-BAND3,1300,5,5,-94,-850,-560,15"
        elif m.rat == "GSM" and m.sw["gsm"]:
            line = "+CPSI: GSM,Online,262-01,0x182d,12401,27 EGSM 900,-64,2110,42-42"
        else:
            line = "+CPSI: NO SERVICE,Online"
        m.reply([line])

    def cmd_ctzu(self, op, args):
        self.ctzu = bool(args) and args[0] == "1"
        self.m.reply()

    def cmd_cgdcont(self, op, args):
        if op == "=" and len(args) >= 3:
            self.m.apn_set = args[2]
        self.m.reply()

    def cmd_netopen(self, op, args):
        m = self.m
        if op == "?":
            return m.reply(["+NETOPEN: %d" % (1 if m.pdp else 0)])
        if m.pdp:
            return m.reply(["+IP ERROR: Network is already opened"], "ERROR")
        m.reply()
        ok = self.registered() and not m.sw["pdp_fail"] and m.apn_ok()
        m.later(0.8 if ok else 3.0, self._netopened, ok)

    def _netopened(self, ok):
        self.m.pdp = ok
        self.m.event("pdp", "open" if ok else "failed")
        self.m.urc("+NETOPEN: %d" % (0 if ok else 1))

    def cmd_netclose(self, op, args):
        m = self.m
        if not m.pdp:
            return m.reply(["+NETCLOSE: 2"], "ERROR")
        m.pdp = False
        m.reply()
        m.urc("+NETCLOSE: 0", 0.3)

    def cmd_ipaddr(self, op, args):
        if self.m.pdp:
            return self.m.reply(["+IPADDR: 10.18.146.147"])
        self.m.reply(["+IP ERROR: Network not opened"], "ERROR")

    def cmd_cpof(self, op, args):
        self.m.reply()
        self.m.later(0.5, self.m._power_lost, "AT+CPOF")

    def cmd_creset(self, op, args):
        self.m.reply()
        self.m.later(0.5, self.m.reboot, "AT+CRESET")

    def cmd_cdnsgip(self, op, args):
        """AT+CDNSGIP="name" -> +CDNSGIP: 1,"name","ip" OK | +CDNSGIP: 0,<err> ERROR."""
        m = self.m
        host = args[0].strip('"') if args else ""
        if op != "=" or not host:
            return m.reply((), "ERROR")
        if not m.pdp:
            return m.reply(["+CDNSGIP: 0,8"], "ERROR")
        if m.sw["dns_fail"] or not m.resolves(host):
            m.billing.add(m.now(), "dns failed", *m.billing.dns(host, answered=False, tries=2))
            return m.reply(["+CDNSGIP: 0,10"], "ERROR", delay_s=DNS_FAIL_DELAY_S)
        m.billing.add(m.now(), "dns", *m.billing.dns(host))
        m.reply(['+CDNSGIP: 1,"%s","%s"' % (host, SERVER_ADDRESS)], delay_s=0.3)

    def cmd_cntp(self, op, args):
        m = self.m
        if op in ("=", "?"):
            return m.reply([] if op == "=" else ['+CNTP: "pool.ntp.org",0'])
        m.reply()
        ok = m.pdp and not m.sw["dns_fail"]
        if ok:
            m.billing.add(m.now(), "ntp", *m.billing.ntp("pool.ntp.org"))
            m.rtc_set = True
        m.urc("+CNTP: %d" % (0 if ok else 1), 1.0)

    def pdp_drop(self, during_http=False):
        m = self.m
        if during_http:
            m.urc("+HTTP_NONET_EVENT")
        if m.pdp:
            m.pdp = False
            m.urc("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", 0.05)


class Sim800(Dialect):
    MODEL_NAME = "SIMCOM_SIM800L"
    REVISION = "Revision:1418B05SIM800L24"
    BOOT_S = 3.0
    ON_PULSE_MIN_MS = 1000            # "pull down PWRKEY for more than 1 second"
    OFF_PULSE_MIN_MS = 1500
    RTC_DEFAULT = 1072915200          # 2004-01-01
    NO_SIM_URC = "+CPIN: NOT INSERTED"
    SIM_LOST_URCS = ("+CPIN: NOT READY",)
    SIM_READY_URCS = ("Call Ready", "SMS Ready")
    DOWNLOAD = b"\r\nDOWNLOAD\r\n"
    HTTPDATA_MAX = 319488
    HTTP_CODES = {"dns": 603, "connect": 601, "nonet": 601, "timeout": None, "tls_unsupported": 606}
    CSQ = {"GSM": 17}

    def __init__(self, modem):
        super().__init__(modem)
        self.cmds.update({
            "+SAPBR": self.cmd_sapbr, "+CLTS": self.cmd_clts, "+CBATCHK": self.ok,
            "+CIURC": self.ok, "+CCID": lambda op, a: self.m.reply(["8949020000012345678"]),
            "+CPOWD": self.cmd_cpowd, "+CNTPCID": self.ok, "+CNTP": self.cmd_cntp,
            "+HTTPSSL": lambda op, a: self.m.reply((), "ERROR"),
            "+HTTPREAD": self.http.cmd_read_800,
        })

    def reset(self):
        super().reset()
        self.clts = False

    def boot_urcs(self):
        m = self.m
        m.first_line("RDY")
        m.urc("+CFUN: 1", 0.2)
        self.sim_urcs(0.4)

    def shutdown_urc(self):
        self.m.urc("NORMAL POWER DOWN")

    def brownout_urc(self):
        self.m.urc("UNDER-VOLTAGE POWER DOWN")

    def nitz_enabled(self):
        return self.clts

    def http_headers(self, netloc, content, length, method):
        h = [("Host", netloc), ("User-Agent", "SIMCOM_MODULE"), ("Cache-control", "no-cache"),
             ("Connection", "keep-alive")]
        if method == 1:
            h += [("Content-Type", content or "text/plain"), ("Content-Length", str(length))]
        return h

    def cmd_clts(self, op, args):
        self.clts = bool(args) and args[0] == "1"
        self.m.reply()

    def cmd_sapbr(self, op, args):
        m = self.m
        if op != "=" or len(args) < 2:
            return m.reply((), "ERROR")
        cmd = args[0]
        if cmd == "3":
            if len(args) >= 3 and args[1] == "1" and args[2].upper() == "APN":
                m.apn_set = args[3] if len(args) > 3 else ""
            return m.reply()
        if cmd == "2":
            if m.pdp:
                return m.reply(['+SAPBR: 1,1,"10.86.233.134"'])
            return m.reply(['+SAPBR: 1,3,"0.0.0.0"'])
        if cmd == "1":
            if m.pdp or not self.registered() or m.sw["pdp_fail"] or not m.apn_ok():
                return m.reply((), "ERROR", delay_s=0.1 if m.pdp else 3.0)
            m.later(1.5, self._opened)
            return m.reply(delay_s=1.5)
        if cmd == "0":
            if not m.pdp:
                return m.reply((), "ERROR")
            m.pdp = False
            return m.reply(delay_s=0.5)
        m.reply((), "ERROR")

    def _opened(self):
        self.m.pdp = True
        self.m.event("pdp", "open")

    def cmd_cpowd(self, op, args):
        m = self.m
        m.urc("NORMAL POWER DOWN", 0.3)
        m.later(0.35, m._power_lost, "AT+CPOWD")

    def cmd_cntp(self, op, args):
        m = self.m
        if op in ("=", "?"):
            return m.reply()
        m.reply()
        ok = m.pdp and not m.sw["dns_fail"]
        if ok:
            m.billing.add(m.now(), "ntp", *m.billing.ntp("pool.ntp.org"))
            m.rtc_set = True
        m.urc("+CNTP: %d" % (1 if ok else 61), 1.5)

    def pdp_drop(self, during_http=False):
        m = self.m
        if m.pdp:
            m.pdp = False
            m.urc("+SAPBR 1: DEACT")


DIALECTS = {"sim7600": Sim7600, "sim800": Sim800}
