// A Vault-API TEST STAND-IN (not HashiCorp Vault): no Vault server is installable here (peers/vault.md), so this
// python server implements exactly the wire format peers/vault.md describes, on 127.0.0.1. It proves the client's
// requests and its handling of Vault's responses and errors, nothing about Vault's policies or real auth backends.
import Foundation

let vaultStandInPythonSource = #"""
# vault_standin.py: a Vault-API test stand-in (NOT Vault), following peers/vault.md.
# Routes: KV v2 (mount --kv2-mount) read/write/soft-delete/metadata, KV v1 (mount --kv1-mount) read/write,
# kubernetes + approle login, token renew-self/lookup-self; X-Vault-Token / Authorization: Bearer; X-Vault-Namespace
# (or a /v1/<ns>/ path prefix); errors as {"errors": [...]}; 403 on a missing/unknown/expired token.
# Test control (not Vault API) under /_standin/: POST fail {"status","count","errors"}, POST expire-tokens, GET stats, GET tokens.
import json, sys, threading, time, uuid, datetime
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlsplit, parse_qs

opts = {"root-token": "root", "kv1-mount": "kv", "kv2-mount": "secret", "k8s-mount": "kubernetes", "k8s-role": "rampart",
        "k8s-jwt": "", "approle-mount": "approle", "approle-role-id": "", "approle-secret-id": "", "token-ttl": "60"}
a = sys.argv[1:]
for i in range(0, len(a) - 1, 2):
    opts[a[i].lstrip("-")] = a[i + 1]

lock = threading.Lock()
tokens = {opts["root-token"]: None}          # token -> expiry (epoch seconds) or None
kv2 = {}                                     # (ns, mount, path) -> [version dicts]
kv1 = {}                                     # (ns, mount, path) -> data
namespaces = set()
stats = {"requests": 0, "reads": 0, "login_kubernetes": 0, "login_approle": 0, "denied": 0, "failed": 0,
         "namespaces_seen": []}
fail = {"status": 0, "count": 0, "errors": []}
DENIED = "1 error occurred:\n\t* permission denied\n\t* invalid token\n\n"

def now_iso():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

def envelope(data=None, auth=None, lease_duration=0, warnings=None):
    return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": lease_duration,
            "data": data, "wrap_info": None, "warnings": warnings, "auth": auth, "mount_type": "kv"}

def issue_token(meta):
    t = "hvs." + uuid.uuid4().hex
    ttl = int(opts["token-ttl"])
    with lock:
        tokens[t] = time.time() + ttl
    return {"client_token": t, "accessor": str(uuid.uuid4()), "policies": ["default"], "token_policies": ["default"],
            "metadata": meta, "lease_duration": ttl, "renewable": True, "entity_id": str(uuid.uuid4()),
            "token_type": "service", "orphan": True, "num_uses": 0}

def ttl_seconds(v):
    try:
        s = str(v)
        mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(s[-1:], None)
        return int(s[:-1]) * mult if mult else int(s)
    except Exception:
        return 2764800

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass

    def reply(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None: self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def err(self, status, msgs):
        self.reply(status, {"errors": msgs})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw: return {}
        try: return json.loads(raw)
        except Exception: return None

    def token(self):
        t = self.headers.get("X-Vault-Token")
        if not t:
            a = self.headers.get("Authorization", "")
            if a.startswith("Bearer "): t = a[7:]
        return t

    def token_ok(self):
        t = self.token()
        with lock:
            if t is None or t not in tokens: return False
            exp = tokens[t]
            return exp is None or exp > time.time()

    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_PUT(self): self.handle_any("POST")
    def do_DELETE(self): self.handle_any("DELETE")

    def handle_any(self, method):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        path = u.path
        if path.startswith("/_standin/"):
            return self.control(method, path[len("/_standin/"):])
        with lock:
            stats["requests"] += 1
            ns_h = self.headers.get("X-Vault-Namespace")
            if ns_h: stats["namespaces_seen"].append(ns_h)
            if fail["status"] and fail["count"] != 0:
                if fail["count"] > 0: fail["count"] -= 1
                stats["failed"] += 1
                st, msgs = fail["status"], fail["errors"]
            else:
                st = 0
        if st:
            return self.err(st, msgs)
        if not path.startswith("/v1/"):
            return self.err(404, [])
        rest = path[4:].strip("/")
        ns = (self.headers.get("X-Vault-Namespace") or "").strip("/")
        full = rest
        if not ns:
            # /v1/ns1/ns2/secret/... is the same as X-Vault-Namespace: ns1/ns2/ with /v1/secret/...
            for cand in sorted(namespaces, key=len, reverse=True):
                if full.startswith(cand + "/"):
                    ns, full = cand, full[len(cand) + 1:]
                    break
        parts = full.split("/")
        if len(parts) >= 3 and parts[0] == "auth" and parts[-1] == "login" and method == "POST":
            return self.login("/".join(parts[1:-1]))
        if not self.token_ok():
            with lock: stats["denied"] += 1
            return self.err(403, [DENIED])
        if full == "auth/token/lookup-self" and method == "GET":
            t = self.token()
            with lock: exp = tokens.get(t)
            ttl = 0 if exp is None else max(0, int(exp - time.time()))
            return self.reply(200, envelope(data={"ttl": ttl, "renewable": exp is not None, "policies": ["default"],
                                                  "expire_time": None}))
        if full == "auth/token/renew-self" and method == "POST":
            t = self.token()
            with lock:
                if tokens.get(t) is None: return self.err(400, ["lease is not renewable"])
                tokens[t] = time.time() + int(opts["token-ttl"])
            return self.reply(200, envelope(auth={"client_token": t, "policies": ["default"], "metadata": None,
                                                  "lease_duration": int(opts["token-ttl"]), "renewable": True}))
        mount = parts[0]
        if mount == opts["kv2-mount"] and len(parts) >= 3 and parts[1] in ("data", "metadata"):
            key = (ns, mount, "/".join(parts[2:]))
            if parts[1] == "metadata":
                with lock: vs = kv2.get(key)
                if not vs: return self.err(404, [])
                return self.reply(200, envelope(data={"current_version": len(vs), "versions": {
                    str(i + 1): {"created_time": v["created_time"], "deletion_time": v["deletion_time"],
                                 "destroyed": v["destroyed"]} for i, v in enumerate(vs)}}))
            if method == "GET":
                with lock:
                    stats["reads"] += 1
                    vs = kv2.get(key)
                    try: want = int(q.get("version", ["0"])[0])
                    except ValueError: return self.err(400, ["invalid version"])
                    if not vs or want > len(vs) or want < 0: return self.err(404, [])
                    n = want or len(vs)
                    v = vs[n - 1]
                meta = {"created_time": v["created_time"], "custom_metadata": None, "deletion_time": v["deletion_time"],
                        "destroyed": v["destroyed"], "version": n}
                if v["deletion_time"] or v["destroyed"]:
                    return self.reply(404, envelope(data={"data": None, "metadata": meta}))
                return self.reply(200, envelope(data={"data": v["data"], "metadata": meta}))
            if method == "POST":
                b = self.body()
                if not isinstance(b, dict) or not isinstance(b.get("data"), dict):
                    return self.err(400, ["no data provided"])
                with lock:
                    vs = kv2.setdefault(key, [])
                    vs.append({"data": b["data"], "created_time": now_iso(), "deletion_time": "", "destroyed": False})
                    n = len(vs)
                    if ns: namespaces.add(ns)
                return self.reply(200, envelope(data={"created_time": now_iso(), "custom_metadata": None,
                                                      "deletion_time": "", "destroyed": False, "version": n}))
            if method == "DELETE":
                with lock:
                    vs = kv2.get(key)
                    if vs: vs[-1]["deletion_time"] = now_iso()
                return self.reply(204)
        if mount == opts["kv1-mount"] and len(parts) >= 2:
            key = (ns, mount, "/".join(parts[1:]))
            if method == "GET":
                with lock:
                    stats["reads"] += 1
                    d = kv1.get(key)
                if d is None: return self.err(404, [])
                return self.reply(200, envelope(data=d, lease_duration=ttl_seconds(d.get("ttl", 2764800))))
            if method == "POST":
                b = self.body()
                if not isinstance(b, dict): return self.err(400, ["invalid request"])
                with lock:
                    kv1[key] = b
                    if ns: namespaces.add(ns)
                return self.reply(204)
            if method == "DELETE":
                with lock: kv1.pop(key, None)
                return self.reply(204)
        return self.err(404, ["no handler for route \"%s\"" % full])

    def login(self, mount):
        b = self.body()
        if not isinstance(b, dict): return self.err(400, ["failed to parse JSON input"])
        if mount == opts["k8s-mount"]:
            with lock: stats["login_kubernetes"] += 1
            if not b.get("role"): return self.err(400, ["missing role"])
            if not b.get("jwt"): return self.err(400, ["missing jwt"])
            if b["role"] != opts["k8s-role"]: return self.err(400, ["invalid role name \"%s\"" % b["role"]])
            if b["jwt"] != opts["k8s-jwt"]: return self.err(403, ["permission denied"])
            auth = issue_token({"role": b["role"], "service_account_name": "rampart", "service_account_namespace": "default"})
            return self.reply(200, envelope(auth=auth))
        if mount == opts["approle-mount"]:
            with lock: stats["login_approle"] += 1
            if not b.get("role_id"): return self.err(400, ["missing role_id"])
            if b.get("role_id") != opts["approle-role-id"] or b.get("secret_id") != opts["approle-secret-id"]:
                return self.err(400, ["invalid role or secret ID"])
            auth = issue_token(None)
            return self.reply(200, envelope(auth=auth))
        return self.err(404, ["no handler for route \"auth/%s/login\"" % mount])

    def control(self, method, what):
        if what == "tokens":
            with lock: s = {"issued": [t for t, e in tokens.items() if e is not None]}
            return self.reply(200, s)
        if what == "stats":
            with lock: s = dict(stats)
            return self.reply(200, s)
        if what == "fail" and method == "POST":
            b = self.body() or {}
            with lock:
                fail["status"] = int(b.get("status", 0))
                fail["count"] = int(b.get("count", -1))
                fail["errors"] = b.get("errors", [])
            return self.reply(200, {})
        if what == "expire-tokens" and method == "POST":
            with lock:
                for t in list(tokens):
                    if tokens[t] is not None: tokens[t] = 0
            return self.reply(200, {})
        return self.reply(404, {"errors": ["unknown stand-in control"]})

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""#

/// The Vault-API test stand-in (see the file comment): a python child process on 127.0.0.1, stopped by its PID.
public final class VaultStandIn: @unchecked Sendable {
    public let child: ChildProcess
    public let port: Int
    public let rootToken: String
    public var address: String { "http://127.0.0.1:\(port)" }

    public static let scriptPath: String = {
        let path = NSTemporaryDirectory() + "rampart-vault-standin-\(getpid()).py"
        try? vaultStandInPythonSource.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    /// `tokenTTL`: the `lease_duration` (seconds) of tokens issued by logins.
    public init(rootToken: String = "root-token", kubernetesJWT: String = "", roleId: String = "", secretId: String = "",
                tokenTTL: Int = 60) throws {
        self.rootToken = rootToken
        child = try ChildProcess("/usr/bin/env", ["python3", Self.scriptPath, "--root-token", rootToken, "--k8s-jwt", kubernetesJWT,
                                                  "--approle-role-id", roleId, "--approle-secret-id", secretId,
                                                  "--token-ttl", String(tokenTTL)])
        guard let line = child.readFirstLine(), let p = Int(line) else {
            child.stop()
            throw NSError(domain: "VaultStandIn", code: 1, userInfo: [NSLocalizedDescriptionKey: "vault stand-in did not start"])
        }
        port = p
    }

    /// A Vault API call with the root token; returns the status (nil: no answer).
    @discardableResult
    public func api(_ method: String, _ path: String, json: String? = nil, namespace: String? = nil) -> Int? {
        var h = ["X-Vault-Token: \(rootToken)"]
        if let namespace { h.append("X-Vault-Namespace: \(namespace)") }
        if json != nil { h.append("Content-Type: application/json") }
        return Curl.get(address + path, headers: h, method: method, data: json)?.status
    }

    /// Writes a KV v2 secret version (`mount` "secret"), returns the status.
    @discardableResult
    public func writeKV2(_ path: String, _ json: String, namespace: String? = nil) -> Int? {
        api("POST", "/v1/secret/data/\(path)", json: "{\"data\": \(json)}", namespace: namespace)
    }

    /// Writes a KV v1 secret (`mount` "kv").
    @discardableResult
    public func writeKV1(_ path: String, _ json: String, namespace: String? = nil) -> Int? {
        api("POST", "/v1/kv/\(path)", json: json, namespace: namespace)
    }

    /// Makes the next `count` Vault requests (-1: all, 0: stop) answer `status` with `{"errors": errors}`.
    public func fail(status: Int, count: Int = -1, errors: [String] = []) {
        let errs = errors.map { "\"\($0)\"" }.joined(separator: ",")
        _ = Curl.get(address + "/_standin/fail", method: "POST", data: "{\"status\": \(status), \"count\": \(count), \"errors\": [\(errs)]}")
    }

    /// Expires every token issued by a login (the root token stays).
    public func expireTokens() {
        _ = Curl.get(address + "/_standin/expire-tokens", method: "POST", data: "{}")
    }

    /// Counters: requests, reads, login_kubernetes, login_approle, denied, failed.
    public func stat(_ name: String) -> Int {
        guard let r = Curl.get(address + "/_standin/stats"),
              let obj = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else { return -1 }
        return (obj[name] as? Int) ?? -1
    }

    /// The client tokens logins issued (so tests can check they never leak).
    public func issuedTokens() -> [String] {
        guard let r = Curl.get(address + "/_standin/tokens"),
              let obj = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else { return [] }
        return (obj["issued"] as? [String]) ?? []
    }

    public func stop() { child.stop() }
    deinit { stop() }
}
