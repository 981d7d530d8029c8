// The python test upstream, embedded so the TestSupport target needs no resources.
// Written to a temporary file on first use.
let upstreamPythonSource = #"""
# A small raw-socket HTTP/1.1 upstream for tests. It prints its port, then serves:
# echo JSON of what it received (method, target, headers in order, body), with special paths:
#   /status/NNN     respond with that status
#   /chunked        chunked response body
#   /close          close-delimited response (no Content-Length)
#   /big/N          N bytes of 'x'
#   /hang           never respond
#   /ws             101 upgrade, then echo raw bytes
#   /nominate/NAME  a response whose Connection header lists NAME (e.g. content-length)
# Every accepted connection and request is appended to --log (if given).
import socket, sys, threading, json, os

args = sys.argv[1:]
name = "up"
log = None
mode = "echo"
i = 0
while i < len(args):
    if args[i] == "--name": name = args[i + 1]; i += 2
    elif args[i] == "--log": log = args[i + 1]; i += 2
    elif args[i] == "--mode": mode = args[i + 1]; i += 2
    else: i += 1

lock = threading.Lock()
def record(line):
    if log:
        with lock:
            with open(log, "a") as f:
                f.write(line + "\n")

def read_until(conn, buf, sep):
    while sep not in buf:
        d = conn.recv(65536)
        if not d: return buf, False
        buf += d
    return buf, True

def read_n(conn, buf, n):
    while len(buf) < n:
        d = conn.recv(65536)
        if not d: return buf, False
        buf += d
    return buf, True

def handle(conn):
    record("CONN")
    buf = b""
    try:
        while True:
            buf, ok = read_until(conn, buf, b"\r\n\r\n")
            if not ok: return
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            method, target, version = lines[0].decode("latin-1").split(" ", 2)
            headers = []
            for l in lines[1:]:
                k, v = l.decode("latin-1").split(":", 1)
                headers.append([k, v.strip()])
            hmap = {k.lower(): v for k, v in headers}
            body = b""
            if "transfer-encoding" in hmap:
                while True:
                    buf, ok = read_until(conn, buf, b"\r\n")
                    if not ok: return
                    line, buf = buf.split(b"\r\n", 1)
                    size = int(line.split(b";")[0], 16)
                    if size == 0:
                        while True:
                            buf, ok = read_until(conn, buf, b"\r\n")
                            if not ok: return
                            t, buf = buf.split(b"\r\n", 1)
                            if t == b"": break
                        break
                    buf, ok = read_n(conn, buf, size + 2)
                    if not ok: return
                    body += buf[:size]
                    buf = buf[size + 2:]
            elif "content-length" in hmap:
                n = int(hmap["content-length"])
                buf, ok = read_n(conn, buf, n)
                if not ok: return
                body, buf = buf[:n], buf[n:]
            record("REQ %s %s" % (method, target))
            if mode == "hang" or target.startswith("/hang"):
                while conn.recv(65536): pass
                return
            close = hmap.get("connection", "").lower() == "close"
            status = 200
            extra = ""
            if target.startswith("/status/"):
                status = int(target.split("/")[2][:3])
            payload = json.dumps({"server": name, "method": method, "target": target, "version": version,
                                  "headers": headers, "body": body.decode("latin-1")}).encode()
            if target.startswith("/ws"):
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                if buf: conn.sendall(buf)
                while True:
                    d = conn.recv(65536)
                    if not d: return
                    conn.sendall(d)
            if target.startswith("/chunked"):
                out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Upstream: %s\r\n\r\n" % name.encode()
                half = len(payload) // 2
                for part in (payload[:half], payload[half:]):
                    out += b"%x\r\n%s\r\n" % (len(part), part)
                out += b"0\r\n\r\n"
                conn.sendall(out)
            elif target.startswith("/nominate/"):
                # A hostile upstream: its Connection header nominates a framing header.
                what = target.split("/")[2].split("?")[0]
                conn.sendall(("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: %s\r\n\r\nhello"
                              "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled" % what).encode())
                return
            elif target.startswith("/close"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + payload)
                return
            elif target.startswith("/big/"):
                n = int(target.split("/")[2])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
                chunk = b"x" * 65536
                left = n
                while left > 0:
                    k = min(left, len(chunk))
                    conn.sendall(chunk[:k])
                    left -= k
            else:
                hop = "Connection: close, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n" if target.startswith("/hop") else ""
                resp = ("HTTP/1.1 %d Status\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Upstream: %s\r\n%s%s\r\n"
                        % (status, 0 if method == "HEAD" or status in (204, 304) else len(payload), name, hop, extra)).encode()
                conn.sendall(resp + (b"" if method == "HEAD" or status in (204, 304) else payload))
                if hop: return
            if close: return
    except Exception as e:
        record("ERR %r" % e)
    finally:
        try: conn.close()
        except Exception: pass

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(128)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""#
