"""An aiosmtpd handler for the clipbus-alert e-mail test: the stock
Maildir handler (aiosmtpd.handlers.Mailbox), except that while FLAGFILE
exists, RCPT TO the address REFUSED gets "550 5.1.1 mailbox unavailable"
(a receiving server refusing a recipient).

Usage (system interpreter, Debian python3-aiosmtpd):
  PYTHONPATH=DIR_OF_THIS_FILE /usr/bin/python3 -m aiosmtpd -n \
      -l 127.0.0.1:PORT -c smtp_refuse.Refusing MAILDIR REFUSED FLAGFILE
"""
import os

from aiosmtpd.handlers import Mailbox


class Refusing(Mailbox):
    def __init__(self, mail_dir, refused, flag):
        super().__init__(mail_dir)
        self.refused = refused.lower()
        self.flag = flag
        self.refusals = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 3:
            parser.error("smtp_refuse.Refusing needs MAILDIR REFUSED FLAGFILE")
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.lower() == self.refused and os.path.exists(self.flag):
            self.refusals += 1
            with open(self.flag + ".count", "w") as f:
                f.write(str(self.refusals))
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"
