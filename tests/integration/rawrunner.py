"""A runner link played by a raw WebSocket client on plain sockets
(docs/protocol.md), for tests that must send what berth-runner never
would, or hold a job without running it."""
import base64
import json
import os
import socket
import struct
import time


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("closed %s %r" % (code, reason))
        self.code, self.reason = code, reason


class RawRunner:
    """A runner link on a raw socket: the upgrade, masked text frames out,
    frames in (text, ping, close). With path/subprotocol, any berthd
    WebSocket (a terminal: use recv_frame for its binary frames)."""

    def __init__(self, port, secret, path="/runner/v1", subprotocol="berth-runner.v1",
                 headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        auth = "Authorization: Bearer %s\r\n" % secret if secret else ""
        proto = "Sec-WebSocket-Protocol: %s\r\n" % subprotocol if subprotocol else ""
        proto += "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "%s%s\r\n" % (path, port, key, proto, auth))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            got = self.sock.recv(1)
            if not got:
                raise OSError("connection closed during the upgrade")
            head += got
        self.status = int(head.split(b" ", 2)[1])
        self.head = head.decode("latin-1")
        self.body = b""
        self.buf = b""
        self.closed = None
        if self.status != 101:  # the refusal's JSON body
            n = 0
            for line in self.head.split("\r\n"):
                if line.lower().startswith("content-length:"):
                    n = int(line.split(":", 1)[1])
            while len(self.body) < n:
                got = self.sock.recv(n - len(self.body))
                if not got:
                    break
                self.body += got

    def send_raw(self, payload, opcode=1):
        n = len(payload)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + body)

    def send(self, msg):
        self.send_raw(json.dumps(msg).encode())

    def _need(self, n):
        while len(self.buf) < n:
            got = self.sock.recv(65536)
            if not got:
                raise Closed(None, "socket closed")
            self.buf += got
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=10):
        """The next data frame as (opcode, payload): 1 text, 2 binary;
        answers pings; raises Closed on a close frame."""
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._need(8))[0]
            payload = self._need(n)
            op = b0 & 0x0F
            if op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = (code, payload[2:].decode("utf-8", "replace"))
                raise Closed(*self.closed)
            if op == 9:
                self.send_raw(payload, 10)
                continue
            if op in (1, 2):
                return op, payload

    def recv(self, timeout=10):
        """The next text message as JSON (binary frames skipped); raises
        Closed on a close frame."""
        while True:
            op, payload = self.recv_frame(timeout)
            if op == 1:
                return json.loads(payload)

    def expect(self, mtype, timeout=10):
        """Reads until a message of mtype (skipping others)."""
        deadline = time.time() + timeout
        while True:
            m = self.recv(max(0.1, deadline - time.time()))
            if m.get("type") == mtype:
                return m

    def expect_close(self, timeout=10):
        try:
            while True:
                self.recv(timeout)
        except Closed as e:
            return e.code, e.reason
        except socket.timeout:
            return None

    def hello(self, jobs=()):
        self.send({"type": "hello", "proto": 1, "version": "raw", "hostname": "raw",
                   "jobs": list(jobs)})

    def run_job(self, job, data):
        """Plays a job to its end: accepted, one chunk, SUCCEEDED."""
        self.send({"type": "job.accepted", "job": job})
        self.send({"type": "job.log", "job": job, "seq": 1, "stream": "stdout", "ts": 1,
                   "data": data})
        self.expect("ack")
        self.send({"type": "job.done", "job": job, "last_seq": 1, "status": "SUCCEEDED",
                   "exit_code": 0, "error": None})
        self.expect("ack.done")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def register(link):
    """Plays a fresh link (made with a registration token) through
    registration to ACTIVE: hello, register, registered, welcome, a passing
    precheck. Returns the credential berthd issued."""
    if link.status != 101:
        raise AssertionError("the upgrade was answered %d: %s" % (link.status, link.body))
    link.hello()
    reg = link.expect("register")
    link.send({"type": "registered", "server_id": reg["server_id"]})
    link.expect("welcome")
    link.send({"type": "precheck", "ok": True, "checks": []})
    return reg["credential"]
