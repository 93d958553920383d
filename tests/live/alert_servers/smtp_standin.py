#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for tests/live/alert_delivery.rs.

ADDRESS:587 offers STARTTLS and requires it before AUTH and mail; ADDRESS:465 speaks TLS from
the first byte (SMTPS). Both require AUTH (PLAIN or LOGIN) as USER with PASSWORD. Every message
accepted is recorded as one JSON line in RECORD: the port, whether the session was encrypted and
authenticated, the envelope, and the parsed From, To, Subject and text body. Writes READY when
both listen.
"""
import email
import email.policy
import json
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

record_path, cert, key, address, user, password, ready = sys.argv[1:8]
lock = threading.Lock()


class Recorder:
    def __init__(self, port):
        self.port = port

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        entry = {
            "port": self.port,
            # STARTTLS sets session.ssl; on the SMTPS port the transport itself is TLS.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "body": part.get_content() if part is not None else "",
        }
        with lock:
            with open(record_path, "a", encoding="utf-8") as record:
                record.write(json.dumps(entry) + "\n")
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    if (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    ):
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


class TlsController(Controller):
    """The controller checks that its server answers by reading the greeting; over TLS here."""

    def _trigger_server(self):
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), 1.0) as raw:
            with client.wrap_socket(raw) as tls:
                tls.recv(1024)


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
starttls = Controller(
    Recorder(587),
    hostname=address,
    port=587,
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
)
implicit = TlsController(
    Recorder(465),
    hostname=address,
    port=465,
    ssl_context=context,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=False,
)
starttls.start()
implicit.start()
with open(ready, "w", encoding="utf-8") as flag:
    flag.write("ready\n")
threading.Event().wait()
