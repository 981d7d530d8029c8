#!/usr/bin/env python3
"""Differential tests: every raw request in corpus.txt goes to nginx and to Rampart.

Each proxy runs as its own foreground process on 127.0.0.1 in front of its own recording
upstream (recorder.py). For every case the driver opens a fresh TCP connection to each
proxy, sends the exact bytes, reads what comes back within a bound, and classifies:

  rejected NNN   the proxy answered an error itself and the upstream saw nothing
  answered NNN   the proxy answered a non-error itself and the upstream saw nothing
  forwarded N    the upstream saw N complete requests (bodies compared byte for byte)
  closed         the proxy closed the connection without an answer, upstream saw nothing
  timeout        nothing within the bound, upstream saw nothing

The rule, checked for every case: Rampart is at least as strict as nginx (what nginx
refuses, Rampart refuses), and where both forward, the upstream saw the same number of
requests with the same body bytes. Paths each proxy forwarded are shown, not judged.

Prints a markdown table, writes it to --out, and exits 1 naming every violating case
(2 when the harness cannot run, e.g. nginx is missing).
"""

import argparse
import codecs
import ctypes
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recorder import Recorder  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CASE_TIMEOUT = 3.0   # seconds for a case to produce an answer
QUIET = 0.3          # after an answer, this long without bytes on either side ends the case
CONFIRM_FACTOR = 4   # a violating case is run again with bounds this many times longer
STARTUP_TIMEOUT = 60.0


class HarnessError(Exception):
    """The harness itself cannot run (missing nginx, a proxy that does not start)."""


# --- corpus -----------------------------------------------------------------------------

REPEAT = re.compile(r"\{\{(\d+)\*(.*?)\}\}")


def decode_raw(text):
    """Expands {{N*TEXT}} and the backslash escapes of corpus.txt into bytes."""
    expanded = REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)
    return codecs.escape_decode(expanded.encode("latin-1"))[0]


def load_corpus(path):
    cases = []
    seen = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(" ", 2)
            if len(parts) != 3:
                raise HarnessError(f"{path}:{number}: expected ID CATEGORY RAW")
            case_id, category, raw = parts
            if case_id in seen:
                raise HarnessError(f"{path}:{number}: duplicate case id {case_id}")
            seen.add(case_id)
            cases.append({"id": case_id, "category": category, "raw": decode_raw(raw)})
    return cases


# --- processes --------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll_until(condition, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def simple_get(port, path):
    """(status, raw response) of one GET over a fresh connection, or (None, b'')."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None, b""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match.group(1)) if match else None), data


class Proxy:
    """A proxy process the driver started; stopped by its PID only."""

    name = "proxy"

    def __init__(self, workdir, upstream_port):
        self.workdir = workdir
        self.upstream_port = upstream_port
        self.port = None
        self.process = None
        self.log_path = os.path.join(workdir, f"{self.name}.log")

    def start(self):
        raise NotImplementedError

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, limit=4000):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _spawn(self, argv):
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            cwd=self.workdir, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        finally:
            log.close()


def _die_with_parent():
    """In the child: SIGTERM when the driver's thread that started it goes away, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Nginx(Proxy):
    name = "nginx"

    def __init__(self, workdir, upstream_port, binary):
        super().__init__(workdir, upstream_port)
        self.binary = binary

    def start(self):
        self.port = free_port()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        conf = os.path.join(self.workdir, "nginx.conf")
        w = self.workdir
        with open(conf, "w") as handle:
            handle.write(f"""
daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {w}/nginx-access.log;
    client_body_temp_path {w}/body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    # Larger than Rampart's 32 KiB header bound, so that size limits never make nginx the
    # stricter one: the comparison is about parsing, and Rampart's own bound must hold.
    large_client_header_buffers 4 64k;
    # Longer than the driver's case bound: an incomplete request is a timeout for both.
    client_header_timeout 30s;
    client_body_timeout 30s;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://127.0.0.1:{self.upstream_port};
            proxy_http_version 1.1;
        }}
        # Stands for Rampart's key-auth Route: nginx matches locations on its normalized
        # path, so every path trick that reaches /admin here is refused.
        location = /admin {{ return 401; }}
        location /admin/ {{ return 401; }}
    }}
}}
""")
        self._spawn([self.binary, "-p", w, "-c", conf, "-e", os.path.join(w, "nginx-error.log")])
        ready = poll_until(lambda: not self.alive() or simple_get(self.port, "/admin/x")[0] == 401, STARTUP_TIMEOUT)
        if not ready or not self.alive():
            raise HarnessError(f"nginx did not start on 127.0.0.1:{self.port}:\n{self.log_tail()}\n"
                               + self._error_log())

    def _error_log(self):
        try:
            with open(os.path.join(self.workdir, "nginx-error.log"), errors="replace") as handle:
                return handle.read()[-4000:]
        except OSError:
            return ""


class Rampart(Proxy):
    name = "rampart"

    def __init__(self, workdir, upstream_port, binary):
        super().__init__(workdir, upstream_port)
        self.binary = binary
        self.admin_port = None
        self.key = "k-" + secrets.token_hex(16)  # never sent: every /admin request must be refused

    def start(self):
        self.port, self.admin_port = free_port(), free_port()
        manifests = os.path.join(self.workdir, "manifests")
        os.makedirs(manifests, exist_ok=True)
        with open(os.path.join(manifests, "differential.yaml"), "w") as handle:
            handle.write(f"""apiVersion: rampart.io/v1alpha1
kind: Upstream
metadata: {{name: recorder}}
spec:
  nodes: [{{host: 127.0.0.1, port: {self.upstream_port}}}]
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {{name: all}}
spec:
  paths: ["/*"]
  upstreamRef: {{name: recorder}}
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {{name: admin}}
spec:
  paths: ["/admin", "/admin/*"]
  upstreamRef: {{name: recorder}}
  plugins:
    key-auth: {{keys: [{{value: {self.key}}}]}}
""")
        self._spawn([self.binary, "run", manifests,
                     "--listen", f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin_port}",
                     "--admin-tls", "off", "--state-dir", os.path.join(self.workdir, "state"),
                     "--workers", "1", "--debounce", "20ms", "--dev"])

        def ready():
            if not self.alive():
                return True
            if simple_get(self.admin_port, "/readyz")[0] != 200:
                return False
            status, data = simple_get(self.port, "/")
            return status == 200 and b"X-Recorder: 1" in data and simple_get(self.port, "/admin/x")[0] == 401

        if not poll_until(ready, STARTUP_TIMEOUT) or not self.alive():
            raise HarnessError(f"rampart did not start on 127.0.0.1:{self.port}:\n{self.log_tail()}")


# --- one exchange -----------------------------------------------------------------------

def parse_responses(buf, closed):
    """Complete final responses at the front of buf: (list of (status, from_recorder), rest, unparsed)."""
    responses = []
    pos = 0
    while pos < len(buf):
        head_end = buf.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        head = buf[pos:head_end].decode("latin-1")
        lines = head.split("\r\n")
        match = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
        if not match:
            return responses, buf[pos:], True
        status = int(match.group(1))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = head_end + 4
        if 100 <= status < 200 or status in (204, 304):
            pos = body_start
            if status >= 200:
                responses.append((status, "x-recorder" in headers))
            continue
        if "chunked" in headers.get("transfer-encoding", "").lower():
            cursor = body_start
            done = False
            while True:
                line_end = buf.find(b"\r\n", cursor)
                if line_end < 0:
                    break
                try:
                    size = int(buf[cursor:line_end].split(b";")[0], 16)
                except ValueError:
                    return responses, buf[pos:], True
                if size == 0:
                    trailer_end = buf.find(b"\r\n\r\n", line_end)
                    if trailer_end < 0:
                        break
                    cursor = trailer_end + 4
                    done = True
                    break
                cursor = line_end + 2 + size + 2
                if cursor > len(buf):
                    break
            if not done:
                break
            pos = cursor
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                return responses, buf[pos:], True
            if len(buf) < body_start + length:
                break
            pos = body_start + length
        else:
            if not closed:
                break
            pos = len(buf)
        responses.append((status, "x-recorder" in headers))
    return responses, buf[pos:], False


def exchange(port, raw, recorder, tag, timeout=CASE_TIMEOUT, quiet=QUIET):
    """Sends raw over a fresh connection; returns what the client and the upstream saw."""
    recorder.begin(tag)
    result = {"responses": [], "closed": False, "timed_out": False, "unparsed": False, "error": None}
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError as error:
        result["error"] = f"connect: {error.strerror or error}"
        return finish(result, recorder, tag)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    pending = raw
    buf = b""
    start = last_byte = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            responses, _, unparsed = parse_responses(buf, False)
            answered = bool(responses) or unparsed
            idle = now - max(last_byte, recorder.last_activity)
            if answered and not pending and idle >= quiet:
                break
            if now - start >= timeout:
                result["timed_out"] = not answered
                break
            wait = min(0.05, max(0.0, timeout - (now - start)))
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], wait)
            if writable and pending:
                try:
                    sent = sock.send(pending[:65536])
                    pending = pending[sent:]
                except BlockingIOError:
                    pass
                except OSError:
                    pending = b""  # the proxy stopped reading: what it answers still counts
            if readable:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    result["closed"] = True
                    break
                if not data:
                    result["closed"] = True
                    break
                buf += data
                last_byte = time.monotonic()
    finally:
        sock.close()
    responses, _, unparsed = parse_responses(buf, result["closed"])
    result["responses"] = responses
    result["unparsed"] = unparsed or (bool(buf) and not responses)
    return finish(result, recorder, tag, quiet)


def finish(result, recorder, tag, quiet=QUIET):
    """Waits (bounded) for the upstream side to settle, then collects what it recorded."""
    poll_until(lambda: time.monotonic() - recorder.last_activity >= quiet / 2 and not recorder.busy(), quiet * 3, 0.02)
    requests, partials = recorder.taken(tag)
    recorder.begin(None)
    result["requests"] = requests
    result["partials"] = partials
    return result


# --- classification and the rule -------------------------------------------------------

def classify(result):
    own = [status for status, from_recorder in result["responses"] if not from_recorder]
    if result["requests"]:
        kind = "forwarded"
    elif result["error"]:
        kind = "closed"
    elif own:
        kind = "rejected" if own[0] >= 400 else "answered"
    elif result["unparsed"]:
        kind = "answered"
    elif result["closed"]:
        kind = "closed"
    else:
        kind = "timeout"
    result["kind"] = kind
    return result


def describe(result):
    kind = result["kind"]
    if kind == "forwarded":
        bodies = ", ".join(f"{len(r['body'])}B" for r in result["requests"])
        text = f"forwarded {len(result['requests'])} [{bodies}]"
        own = [s for s, from_recorder in result["responses"] if not from_recorder]
        if own:
            text += " then " + "/".join(str(s) for s in own)
    elif kind in ("rejected", "answered"):
        own = [s for s, from_recorder in result["responses"] if not from_recorder]
        text = f"{kind} {own[0]}" if own else f"{kind} (not HTTP/1.x)"
    else:
        text = kind
        if result["error"]:
            text += f" ({result['error']})"
    if result["partials"]:
        text += f" +{sum(result['partials'])}B unframed"
    return text


REFUSING = ("rejected", "answered", "closed")


def verdict(nginx, rampart):
    """None if the rule holds, else the reason."""
    if rampart.get("crashed"):
        return f"rampart exited ({rampart['crashed']})"
    if nginx["error"]:
        return f"harness: nginx could not be reached ({nginx['error']}), so nothing is proven"
    n_kind, r_kind = nginx["kind"], rampart["kind"]
    if n_kind in REFUSING or n_kind == "timeout":
        if r_kind == "forwarded":
            return f"nginx {describe(nginx)}, rampart {describe(rampart)}"
        if n_kind in REFUSING and r_kind == "timeout":
            return f"nginx {describe(nginx)}, rampart did not answer"
        return None
    if r_kind != "forwarded":
        return None  # nginx forwarded, Rampart refused: stricter, allowed
    if len(nginx["requests"]) != len(rampart["requests"]):
        return f"upstream saw {len(nginx['requests'])} request(s) via nginx, {len(rampart['requests'])} via rampart"
    for index, (a, b) in enumerate(zip(nginx["requests"], rampart["requests"]), 1):
        if a["body"] != b["body"]:
            return f"request {index}: body {show_bytes(a['body'], 40)!s} via nginx, {show_bytes(b['body'], 40)!s} via rampart"
    return None


def judge(row):
    """The verdict for a row; baseline cases also check that the harness itself works."""
    category = row["case"]["category"]
    for side in ("nginx", "rampart"):
        kind = row[side]["kind"]
        if category == "baseline" and kind != "forwarded":
            return f"baseline: {side} did not forward a plain request ({describe(row[side])})"
        if category == "baseline-auth" and kind != "rejected":
            return f"baseline: {side} did not refuse /admin without a key ({describe(row[side])})"
    return verdict(row["nginx"], row["rampart"])


def show_bytes(data, limit=48):
    text = "".join(chr(b) if 0x21 <= b < 0x7f and chr(b) not in "|`\\" else f"\\x{b:02x}" for b in data[:limit])
    if len(data) > limit:
        text += f"…({len(data)}B)"
    return text


def paths(result):
    shown = [show_bytes(r["target"].encode("latin-1")) or "(none)" for r in result["requests"]]
    return " ".join(shown) or "-"


# --- lanes ------------------------------------------------------------------------------

class Lane:
    """One nginx and one Rampart, each with its own recorder; runs its share of the cases."""

    def __init__(self, index, base, nginx_bin, rampart_bin):
        self.index = index
        self.dir = os.path.join(base, f"lane{index}")
        self.nginx_recorder = Recorder(f"nginx-recorder-{index}").start()
        self.rampart_recorder = Recorder(f"rampart-recorder-{index}").start()
        self.nginx = Nginx(os.path.join(self.dir, "nginx"), self.nginx_recorder.port, nginx_bin)
        self.rampart = Rampart(os.path.join(self.dir, "rampart"), self.rampart_recorder.port, rampart_bin)
        os.makedirs(self.nginx.workdir, exist_ok=True)
        os.makedirs(self.rampart.workdir, exist_ok=True)

    def start(self):
        self.nginx.start()
        self.rampart.start()

    def stop(self):
        for proxy in (self.rampart, self.nginx):
            try:
                proxy.stop()
            except OSError:
                pass
        self.nginx_recorder.stop()
        self.rampart_recorder.stop()

    def run(self, case, timeout, quiet, attempt=1):
        """Sends one case to both proxies at once; restarts a proxy that a case took down."""
        tag = f"{case['id']}#{attempt}"  # what the recorders file this run's requests under
        if not self.nginx.alive():
            self.nginx.start()
        if not self.rampart.alive():
            self.rampart.start()
        outcomes = {}

        def send(label, proxy, recorder):
            outcomes[label] = classify(exchange(proxy.port, case["raw"], recorder, tag, timeout, quiet))

        threads = [threading.Thread(target=send, args=("nginx", self.nginx, self.nginx_recorder)),
                   threading.Thread(target=send, args=("rampart", self.rampart, self.rampart_recorder))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rampart = outcomes["rampart"]
        if not self.rampart.alive():
            rampart["crashed"] = f"exit status {self.rampart.process.returncode}"
        row = {"case": case, "nginx": outcomes["nginx"], "rampart": rampart}
        row["violation"] = judge(row)
        return row


def run_lane(lane, cases, results, failures, timeout, quiet):
    try:
        for case in cases:
            row = lane.run(case, timeout, quiet)
            if row["violation"]:
                # A violation is confirmed with generous bounds before it is reported, so that
                # a slow machine cannot produce one; the confirmed outcome is what is shown.
                first = row["violation"]
                row = lane.run(case, timeout * CONFIRM_FACTOR, quiet * CONFIRM_FACTOR, attempt=2)
                row["first_run"] = first
            results[case["id"]] = row
    except HarnessError as error:
        failures.append(str(error))
    except Exception as error:  # reported; main still stops the lane's processes
        failures.append(f"lane {lane.index}: {type(error).__name__}: {error}")


# --- report -----------------------------------------------------------------------------

def table(rows, nginx_version):
    lines = [
        "# Differential tests against nginx",
        "",
        "Generated by `Tests/Differential/driver.py` (`make differential`); do not edit by hand.",
        f"Each case is sent byte for byte to {nginx_version} (`proxy_pass`, `proxy_http_version 1.1`) and to",
        "`rampart run`, each in front of its own recording upstream that splits what it receives",
        "the way a lenient backend would. Rule: Rampart refuses whatever nginx refuses, and where",
        "both forward, the upstream saw the same number of requests with the same body bytes.",
        "Paths are what each upstream received (informational).",
        "",
        "| case | category | nginx | Rampart | path via nginx | path via Rampart | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        reason = row["violation"]
        if reason:
            shown = f"**VIOLATION**: {reason}"
        elif row.get("first_run"):
            shown = f"ok on a slower rerun (first run: {row['first_run']})"
        else:
            shown = "ok"
        lines.append("| {} | {} | {} | {} | `{}` | `{}` | {} |".format(
            row["case"]["id"], row["case"]["category"], describe(row["nginx"]), describe(row["rampart"]),
            paths(row["nginx"]), paths(row["rampart"]), shown))
    bad = sum(1 for row in rows if row["violation"])
    lines += ["", f"{len(rows)} cases, {bad} violation(s).", ""]
    return "\n".join(lines)


def nginx_version(binary):
    try:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
        return (out.stderr or out.stdout).strip().replace("nginx version: ", "")
    except (OSError, subprocess.TimeoutExpired):
        return "nginx"


def find_nginx(given):
    candidates = [given] if given else [shutil.which("nginx"), "/usr/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessError("nginx not found (install it with `make test-deps`, or pass --nginx PATH)")


BEGIN_MARK, END_MARK = "<!-- differential:begin -->", "<!-- differential:end -->"


def write_report(path, report):
    """Writes the table into `path`: between the differential markers when the file has them
    (docs/security.md), else as the whole file."""
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        text = head + BEGIN_MARK + "\n" + report.rstrip("\n") + "\n" + END_MARK + tail
    else:
        text = report
    with open(path, "w") as handle:
        handle.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rampart", default=os.path.join(ROOT, ".build/debug/rampart"), help="the rampart binary")
    parser.add_argument("--nginx", help="the nginx binary (default: nginx on PATH, /usr/sbin/nginx)")
    parser.add_argument("--corpus", default=os.path.join(HERE, "corpus.txt"))
    parser.add_argument("--out", help="write the markdown table here (between the differential markers of docs/security.md, or a file of its own)")
    parser.add_argument("--only", help="comma-separated case ids")
    parser.add_argument("--lanes", type=int, default=2, help="independent nginx+rampart pairs run in parallel")
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT, help="seconds a case may take to be answered")
    parser.add_argument("--quiet", type=float, default=QUIET, help="seconds of silence that end an answered case")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    parser.add_argument("--verbose", action="store_true", help="print what each upstream received")
    args = parser.parse_args(argv)

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    lanes = []
    base = None
    try:
        nginx_bin = find_nginx(args.nginx)
        if not (os.path.isfile(args.rampart) and os.access(args.rampart, os.X_OK)):
            raise HarnessError(f"rampart binary not found at {args.rampart} (swift build, or pass --rampart PATH)")
        cases = load_corpus(args.corpus)
        if args.only:
            wanted = set(args.only.split(","))
            cases = [case for case in cases if case["id"] in wanted]
            missing = wanted - {case["id"] for case in cases}
            if missing:
                raise HarnessError("no such case: " + ", ".join(sorted(missing)))
        base = tempfile.mkdtemp(prefix="rampart-differential-")
        lane_count = max(1, min(args.lanes, len(cases)))
        for index in range(lane_count):
            lanes.append(Lane(index, base, nginx_bin, args.rampart))
            lanes[-1].start()  # from the main thread: children die with it (PR_SET_PDEATHSIG)
        results, failures = {}, []
        threads = [threading.Thread(target=run_lane, args=(lane, cases[lane.index::lane_count], results, failures,
                                                           args.timeout, args.quiet))
                   for lane in lanes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise HarnessError("\n".join(failures))
        rows = [results[case["id"]] for case in cases]
        report = table(rows, nginx_version(nginx_bin))
        print(report)
        if args.verbose:
            for row in rows:
                for side in ("nginx", "rampart"):
                    for request in row[side]["requests"]:
                        print(f"{row['case']['id']} {side}: {request['method']} {show_bytes(request['target'].encode('latin-1'), 80)}"
                              f" {request['headers']} body={show_bytes(request['body'], 80)}")
        if args.out:
            write_report(args.out, report)
        for row in rows:
            if row.get("first_run") and not row["violation"]:
                print(f"warning: {row['case']['id']} differed on its first run ({row['first_run']})", file=sys.stderr)
        violations = [row for row in rows if row["violation"]]
        for row in violations:
            print(f"VIOLATION {row['case']['id']}: {row['violation']}", file=sys.stderr)
        if violations:
            print(f"{len(violations)} of {len(rows)} cases violate the rule", file=sys.stderr)
            return 1
        print(f"all {len(rows)} cases hold the rule", file=sys.stderr)
        return 0
    except HarnessError as error:
        print(f"differential: {error}", file=sys.stderr)
        return 2
    finally:
        for lane in lanes:
            lane.stop()
        if base and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        elif base:
            print(f"work directory kept: {base}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
