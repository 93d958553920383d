#!/usr/bin/env python3
"""Stand-in for ntfy, Telegram's Bot API, Gotify and JSON webhooks (tests/live/alert_delivery.rs).

Serves HTTPS on ADDRESS:443 (certificate and key from the test CA) and plain HTTP on ADDRESS:80,
records every request as one JSON line in RECORD (scheme, method, path, headers, body, and how
many requests that path had), and answers 200 with a small JSON body, except:
  a path containing "fail500" always answers 500;
  a path containing "flaky" answers 500 to its first two requests, then 200.
ADDRESS:8009 accepts connections and never answers (a target that times out).
ADDRESS:8025 is an SMTP server that sends every reply a byte at a time, 0.3 s apart (each read
is quick, the conversation is not).
Writes READY when all four listen. Standard library only.
"""
import http.server
import json
import socket
import ssl
import sys
import threading

record_path, cert, key, address, ready = sys.argv[1:6]
lock = threading.Lock()
counts = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.answer()

    def do_GET(self):
        self.answer()

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            count = counts[self.path]
            entry = {
                "scheme": self.server.scheme,
                "method": self.command,
                "path": self.path,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "count": count,
            }
            with open(record_path, "a", encoding="utf-8") as record:
                record.write(json.dumps(entry) + "\n")
        status = 200
        if "fail500" in self.path or ("flaky" in self.path and count <= 2):
            status = 500
        reply = json.dumps({"ok": status == 200, "id": "test%d" % count}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def serve(port, scheme):
    server = http.server.ThreadingHTTPServer((address, port), Handler)
    server.scheme = scheme
    server.daemon_threads = True
    if scheme == "https":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


silent = socket.socket()
silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
silent.bind((address, 8009))
silent.listen(64)
held = []


def hold():
    while True:
        connection, _ = silent.accept()
        held.append(connection)


drip = socket.socket()
drip.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
drip.bind((address, 8025))
drip.listen(64)


def drip_reply(connection, line):
    for byte in line:
        connection.sendall(bytes([byte]))
        threading.Event().wait(0.3)


def drip_conversation(connection):
    try:
        drip_reply(connection, b"220 drip.example.net ESMTP\r\n")
        reader = connection.makefile("rb")
        while reader.readline():
            drip_reply(connection, b"250 ok\r\n")
    except OSError:
        pass
    finally:
        connection.close()


def drip_accept():
    while True:
        connection, _ = drip.accept()
        threading.Thread(target=drip_conversation, args=(connection,), daemon=True).start()


serve(443, "https")
serve(80, "http")
threading.Thread(target=hold, daemon=True).start()
threading.Thread(target=drip_accept, daemon=True).start()
with open(ready, "w", encoding="utf-8") as flag:
    flag.write("ready\n")
threading.Event().wait()
