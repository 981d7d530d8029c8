"""A raw recording upstream for the differential tests (python3, stdlib only).

It accepts TCP connections on 127.0.0.1, keeps every byte a proxy sends, and splits the
stream into requests the way a lenient backend would, so that a request smuggled inside
another one's body shows up as a second request. Each parsed request is answered with a
small 200 that carries `Connection: close`, which keeps one case's upstream connection
from being reused by the next case; the recorder still reads to EOF and records whatever
else arrives on that connection.

Used in-process by driver.py; `python3 recorder.py` also runs it alone, printing its port
and one JSON line per request.
"""

import json
import socket
import sys
import threading
import time

RESPONSE_BODY = b"recorded\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Recorder: 1\r\n"
            b"Content-Length: " + str(len(RESPONSE_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + RESPONSE_BODY)

# Bounds so a hostile or broken stream cannot make the recorder spin or eat memory.
MAX_HEAD = 1 << 20
MAX_CHUNK = 1 << 24


def _find_head_end(buf):
    """End of the head (index after the blank line) accepting CRLF or bare LF, or None."""
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    ends = [i + 4 for i in [crlf] if i >= 0] + [i + 2 for i in [lf] if i >= 0]
    return min(ends) if ends else None


def _read_line(buf, pos):
    """(line without CR/LF, next position) or None if the line is incomplete."""
    nl = buf.find(b"\n", pos)
    if nl < 0:
        return None
    return buf[pos:nl].rstrip(b"\r"), nl + 1


def parse_request(buf):
    """Parses one request from the front of buf.

    Returns (request dict, bytes consumed), or None when more bytes are needed.
    Lenient on purpose: bare LF, any spacing, first Content-Length wins, any
    Transfer-Encoding mentioning "chunked" means chunked, hex chunk sizes with
    extensions ignored.
    """
    start = 0
    while start < len(buf) and buf[start:start + 1] in (b"\r", b"\n"):
        start += 1
    if start == len(buf):
        return None
    end = _find_head_end(buf[start:])
    if end is None:
        return None
    head = buf[start:start + end]
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")]
    parts = lines[0].split()
    method = parts[0] if parts else b""
    target = parts[1] if len(parts) > 1 else b""
    version = parts[2] if len(parts) > 2 else b""
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.strip(), value.strip()))
    pos = start + end

    def values(name):
        return [v for n, v in headers if n.lower() == name]

    chunked = any(b"chunked" in v.lower() for v in values(b"transfer-encoding"))
    body = b""
    if chunked:
        while True:
            got = _read_line(buf, pos)
            if got is None:
                return None
            size_line, pos = got
            size_text = size_line.split(b";")[0].strip()
            try:
                size = int(size_text, 16) if size_text else 0
            except ValueError:
                size = 0
            size = min(max(size, 0), MAX_CHUNK)
            if size == 0:
                while True:  # trailers up to the blank line
                    got = _read_line(buf, pos)
                    if got is None:
                        return None
                    trailer, pos = got
                    if not trailer:
                        break
                break
            if len(buf) < pos + size:
                return None
            body += buf[pos:pos + size]
            pos += size
            got = _read_line(buf, pos)
            if got is None:
                return None
            pos = got[1]
    else:
        lengths = values(b"content-length")
        length = 0
        if lengths:
            digits = b""
            for ch in lengths[0].strip():
                if not 48 <= ch <= 57:
                    break
                digits += bytes([ch])
            length = int(digits) if digits else 0
        if len(buf) < pos + length:
            return None
        body = buf[pos:pos + length]
        pos += length
    request = {
        "method": method.decode("latin-1"),
        "target": target.decode("latin-1"),
        "version": version.decode("latin-1"),
        "headers": [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
        "framing": "chunked" if chunked else "length",
        "body": body,
    }
    return request, pos


class Recorder:
    """The recording upstream: requests are tagged with the case the driver says is running."""

    def __init__(self, name="recorder"):
        self.name = name
        self.lock = threading.Lock()
        self.requests = []       # parsed requests, each tagged with "case" and "conn"
        self.partials = []       # (case, conn, unparsed bytes left when a connection ended)
        self.case = None
        self.last_activity = time.monotonic()
        self.open_connections = 0
        self.connection_count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.on_request = None

    def start(self):
        threading.Thread(target=self._accept_loop, name=self.name, daemon=True).start()
        return self

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def begin(self, case):
        """Starts attributing what arrives to `case`."""
        with self.lock:
            self.case = case

    def taken(self, case):
        """(requests, partial byte counts) recorded for `case`."""
        with self.lock:
            reqs = [r for r in self.requests if r["case"] == case]
            parts = [len(p) for c, _, p in self.partials if c == case]
        return reqs, parts

    def busy(self):
        """True while an upstream connection is open."""
        with self.lock:
            return self.open_connections > 0

    def _touch(self):
        with self.lock:
            self.last_activity = time.monotonic()

    def _accept_loop(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connection_count += 1
                self.open_connections += 1
                conn_id = self.connection_count
            threading.Thread(target=self._serve, args=(conn, conn_id), daemon=True).start()

    def _serve(self, conn, conn_id):
        buf = b""
        conn.settimeout(30)
        try:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                self._touch()
                buf += data
                while True:
                    parsed = parse_request(buf) if len(buf) <= MAX_HEAD + MAX_CHUNK else None
                    if parsed is None:
                        break
                    request, used = parsed
                    buf = buf[used:]
                    with self.lock:
                        request["case"] = self.case
                        request["conn"] = conn_id
                        self.requests.append(request)
                        self.last_activity = time.monotonic()
                    if self.on_request:
                        self.on_request(request)
                    try:
                        conn.sendall(RESPONSE)
                    except OSError:
                        pass
        finally:
            with self.lock:
                if buf.strip(b"\r\n"):
                    self.partials.append((self.case, conn_id, buf))
                self.open_connections -= 1
                self.last_activity = time.monotonic()
            conn.close()


def main():
    recorder = Recorder()

    def show(request):
        shown = dict(request)
        shown["body"] = request["body"].decode("latin-1")
        print(json.dumps(shown), flush=True)

    recorder.on_request = show
    recorder.start()
    print(recorder.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        recorder.stop()


if __name__ == "__main__":
    sys.exit(main())
