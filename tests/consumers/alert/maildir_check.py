"""Checks the Maildir written by the e-mail test's SMTP sink, with the
standard library only (mailbox.Maildir, email). Prints one JSON line per
message, oldest first: the decoded headers and the plain-text body; exits 1
with a message when a message is malformed (missing or bad Date,
Message-ID, From, To, Subject; not text/plain; a line over 998 octets).

Usage: maildir_check.py MAILDIR
"""
import email.header
import email.utils
import json
import mailbox
import re
import sys

box = mailbox.Maildir(sys.argv[1], create=False)
msgs = []
for key, m in box.items():
    raw = box.get_bytes(key)
    bad = []
    for h in ("Date", "Message-ID", "From", "To", "Subject"):
        if m[h] is None:
            bad.append("no %s header" % h)
    if bad:
        sys.exit("message %s: %s" % (key, ", ".join(bad)))
    try:
        date = email.utils.parsedate_to_datetime(m["Date"])
    except (TypeError, ValueError):
        sys.exit("message %s: Date %r is not RFC 5322" % (key, m["Date"]))
    if date.tzinfo is None:
        sys.exit("message %s: Date %r has no zone" % (key, m["Date"]))
    if not re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", m["Message-ID"]):
        sys.exit("message %s: Message-ID %r" % (key, m["Message-ID"]))
    if m.get_content_type() != "text/plain" or \
            m.get_content_charset() != "utf-8":
        sys.exit("message %s: Content-Type %r" % (key, m["Content-Type"]))
    for line in raw.split(b"\n"):
        if len(line.rstrip(b"\r")) > 998:
            sys.exit("message %s: a line of %d octets" % (key, len(line)))
    subject = str(email.header.make_header(
        email.header.decode_header(m["Subject"])))
    body = m.get_payload(decode=True).decode("utf-8")
    msgs.append({"date": date.timestamp(), "message_id": m["Message-ID"],
                 "from": m["From"], "to": m["To"], "subject": subject,
                 "rcpt": m["X-RcptTo"], "body": body,
                 "key": key})
# Delivery order: Maildir names are "SECONDS.MMICROSECONDSP...".
def arrival(x):
    t = re.match(r"(\d+)\.M(\d+)P", x["key"])
    return (int(t.group(1)), int(t.group(2))) if t else (0, 0)


msgs.sort(key=arrival)
for x in msgs:
    print(json.dumps(x))
