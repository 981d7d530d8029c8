import Foundation
import TestSupport
import XCTest

/// `rampart run --source kubernetes` against the Kubernetes API stand-in, driven by the real kubectl:
/// resources applied with kubectl are served, their status is written back, a rejected update keeps
/// the last good version, a rotated Secret and a changed EndpointSlice are served.
final class KubernetesRunTests: XCTestCase {
    func start(_ api: KubernetesAPIStandIn, extra: [String] = []) throws -> RampartInstance {
        let r = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath] + extra)
        try r.start(paths: [])
        return r
    }

    func apply(_ api: KubernetesAPIStandIn, _ yaml: String, file: StaticString = #filePath, line: UInt = #line) {
        let out = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: yaml)
        XCTAssertEqual(out.code, 0, out.stderr + out.stdout, file: file, line: line)
    }

    func testAppliedResourcesAreServedWithStatusAndRejectionsKeepLastGood() throws {
        let api = try KubernetesAPIStandIn()
        let one = try TestUpstream(name: "one"), two = try TestUpstream(name: "two")
        let r = try start(api)
        XCTAssertTrue(r.waitReady(), r.log)
        apply(api, Manifests.upstream("one", port: one.port) + "---\n" + Manifests.upstream("two", port: two.port) + "---\n"
            + Manifests.route("hello", paths: ["/hello/*"], upstream: "one"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"one\"") ?? false }, r.log)

        // Status is written back: kubectl wait sees Ready, and the printer column shows it.
        let wait = api.kubectl(["wait", "--for=condition=Ready", "route/hello", "--timeout=20s"])
        XCTAssertEqual(wait.code, 0, wait.stderr + r.log)
        let route = api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes/hello").json
        let status = route?["status"] as? [String: Any]
        XCTAssertEqual((status?["observedGeneration"] as? NSNumber)?.intValue, 1)
        let types = ((status?["conditions"] as? [[String: Any]]) ?? []).compactMap { $0["type"] as? String }
        XCTAssertEqual(Set(types), ["Accepted", "ResolvedRefs", "Ready"])

        // An update is served.
        apply(api, Manifests.route("hello", paths: ["/hello/*"], upstream: "two"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"two\"") ?? false }, r.log)

        // A rejected update: Accepted=False with the field named, the last good version serves, a Warning Event.
        // (The API server's schema check already refuses what the CRD describes, a string priority, say;
        // a reference to a missing Upstream only Rampart can see.)
        apply(api, Manifests.route("hello", paths: ["/hello/*"], upstream: "missing"))
        XCTAssertTrue(Poll.until {
            let conditions = ((api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes/hello").json?["status"] as? [String: Any])?["conditions"] as? [[String: Any]]) ?? []
            return conditions.contains { $0["type"] as? String == "Accepted" && $0["status"] as? String == "False" && ($0["message"] as? String ?? "").contains("spec.upstreamRef") }
        }, r.log)
        XCTAssertTrue(Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"two\"") ?? false, "the last good version serves")
        XCTAssertTrue(Poll.until {
            let events = (api.requestJSON(path: "/api/v1/namespaces/default/events").json?["items"] as? [[String: Any]]) ?? []
            return events.contains { $0["type"] as? String == "Warning" && ($0["message"] as? String ?? "").contains("spec.upstreamRef") }
        })

        // Delete: no longer served.
        let deleted = api.kubectl(["delete", "route", "hello"])
        XCTAssertEqual(deleted.code, 0, deleted.stderr)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/hello/x")?.status == 404 }, r.log)
        XCTAssertEqual(r.stop(), 0)
    }

    /// Status writes that fail (the API server answers 503 while the resources arrive; each write
    /// already retries 4 times) are written again after a backoff once the server recovers, with no
    /// reconcile in between: nothing changes after the faults end, so without the retry the
    /// Route's status would stay empty.
    func testFailedStatusWritesAreWrittenAgainWithoutAReconcile() throws {
        let api = try KubernetesAPIStandIn()
        let one = try TestUpstream(name: "one")
        let r = try start(api)
        XCTAssertTrue(r.waitReady(), r.log)
        api.failNext(-1, status: 503, pathContaining: "/status", method: "PATCH")
        apply(api, Manifests.upstream("one", port: one.port) + "---\n" + Manifests.route("hello", paths: ["/hello/*"], upstream: "one"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/hello/x")?.status == 200 }, r.log)
        XCTAssertTrue(Poll.until(timeout: 20) {
            r.log.split(separator: "\n").contains { $0.contains("cannot write status") && $0.contains("default/hello") }
        }, r.log)
        let generations = r.log.components(separatedBy: "applied generation").count
        api.resetFaults()
        XCTAssertTrue(Poll.until(timeout: 40) {
            let status = api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes/hello").json?["status"] as? [String: Any]
            return ((status?["conditions"] as? [[String: Any]]) ?? []).contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
        }, r.log)
        XCTAssertEqual(r.log.components(separatedBy: "applied generation").count, generations, "no reconcile wrote it: the retry did")
        XCTAssertEqual(r.stop(), 0)
    }

    /// The kubectl apply annotation repeats the whole manifest: an inline secret in it must not reach
    /// state.json, the audit log or the admin API in plaintext.
    func testLastAppliedAnnotationDoesNotLeakInlineSecrets() throws {
        let api = try KubernetesAPIStandIn()
        let up = try TestUpstream(name: "up")
        let r = try start(api, extra: ["--dev"])
        XCTAssertTrue(r.waitReady(), r.log)
        let secret = "inline-\(UUID().uuidString)"
        apply(api, Manifests.upstream("web", port: up.port) + "---\n"
            + Manifests.route("keyed", paths: ["/k"], upstream: "web", extra: "  plugins:\n    key-auth:\n      keys: [{value: \(secret)}]\n"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/k", headers: ["apikey: \(secret)"])?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/k", headers: ["apikey: wrong"])?.status, 401)
        let leaks = SecretScan.find([secret], inDirectories: [r.stateDir], texts: ["log": r.log, "status": r.api("/api/v1/status")?.body ?? "",
                                                                                   "config": r.api("/api/v1/config")?.body ?? ""])
        XCTAssertEqual(leaks, [], "the inline secret appears in plaintext")
        XCTAssertEqual(r.stop(), 0)
    }

    /// `rampart diff PATH --kubeconfig`: as kubectl diff, only the objects PATH names; secrets masked.
    func testDiffAgainstTheCluster() throws {
        let api = try KubernetesAPIStandIn()
        let secret = "diff-\(UUID().uuidString)", other = "diff-\(UUID().uuidString)"
        func manifests(_ path: String, _ key: String) -> String {
            Manifests.upstream("web", port: 9) + "---\n" + Manifests.route("keyed", paths: [path], upstream: "web",
                                                                      extra: "  plugins:\n    key-auth:\n      keys: [{value: \(key)}]\n")
        }
        apply(api, manifests("/k", secret))
        apply(api, Manifests.route("elsewhere", paths: ["/e"], upstream: "web"))
        let dir = try TempDir.make("k8s-diff")
        try manifests("/k", secret).write(toFile: dir + "/a.yaml", atomically: true, encoding: .utf8)
        let same = try Command.rampart(["diff", dir, "--kubeconfig", api.kubeconfigPath, "--dev"])
        XCTAssertEqual(same.code, 0, same.stdout + same.stderr)
        XCTAssertFalse(same.stdout.contains("elsewhere"), "objects PATH does not name are not shown as deleted")
        try manifests("/k2", other).write(toFile: dir + "/a.yaml", atomically: true, encoding: .utf8)
        let changed = try Command.rampart(["diff", dir, "--kubeconfig", api.kubeconfigPath, "--dev"])
        XCTAssertEqual(changed.code, 1, changed.stdout + changed.stderr)
        XCTAssertTrue(changed.stdout.contains("+  - /k2"), changed.stdout)
        XCTAssertTrue(changed.stdout.contains("***"), changed.stdout)
        XCTAssertEqual(SecretScan.find([secret, other], inDirectories: [], texts: ["out": changed.stdout + changed.stderr]), [])
        let broken = try Command.rampart(["diff", dir, "--kubeconfig", dir + "/none"])
        XCTAssertEqual(broken.code, 2)
        XCTAssertTrue(broken.stderr.contains(dir + "/none"), broken.stderr)
    }

    /// The CRDs admit what Rampart's decoder admits: every example applies against the stand-in
    /// checking each write against the CRD schemas, as a real API server does (a fraction such as
    /// an AlertRule's `threshold: 0.05` was refused by `x-kubernetes-int-or-string`, `/*` by the path pattern).
    func testEveryExampleIsAdmittedByTheCRDs() throws {
        let api = try KubernetesAPIStandIn(schemaValidation: .all)
        for dir in ["examples/kinds", "examples/alerts"] {
            let out = api.kubectl(["apply", "--validate=false", "-f", PackagePaths.root.appendingPathComponent(dir).path])
            XCTAssertEqual(out.code, 0, dir + ": " + out.stderr + out.stdout)
        }
        let root = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: Manifests.route("all", paths: ["/*"], upstream: "web"))
        XCTAssertEqual(root.code, 0, root.stderr)
    }

    /// Until every kind has listed, nothing is read as deleted: a restart against an API that fails
    /// its lists keeps serving state.json.
    func testNothingIsDeletedWhileTheAPIIsUnreachable() throws {
        let api = try KubernetesAPIStandIn()
        let up = try TestUpstream(name: "up")
        let r = try start(api)
        XCTAssertTrue(r.waitReady(), r.log)
        apply(api, Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/x")?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)
        api.failNext(10_000, status: 500, pathContaining: "/upstreams")
        let again = try RampartInstance(stateDir: r.stateDir, extraArgs: ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath])
        try again.start(paths: [])
        XCTAssertTrue(again.waitReady(), again.log)
        XCTAssertEqual(Curl.get(again.url + "/x")?.status, 200, "state.json serves while the API cannot list")
        XCTAssertTrue(Poll.until { api.calls().contains { $0.resource == "upstreams" && $0.verb == "list" } })
        XCTAssertEqual(Curl.get(again.url + "/x")?.status, 200, "a failing list is not an empty list")
        api.resetFaults()
        XCTAssertTrue(Poll.until(timeout: 40) { again.log.contains("every kind listed") }, again.log)
        XCTAssertEqual(Curl.get(again.url + "/x")?.status, 200)
        XCTAssertEqual(again.stop(), 0)
    }
}

/// Secrets, EndpointSlices and leader election through the real binary.
final class KubernetesLiveTests: XCTestCase {
    func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    func apply(_ api: KubernetesAPIStandIn, _ yaml: String, file: StaticString = #filePath, line: UInt = #line) {
        let out = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: yaml)
        XCTAssertEqual(out.code, 0, out.stderr + out.stdout, file: file, line: line)
    }

    /// A rotated Secret is served at once (its SecretRef refreshes hourly, so only the watch can
    /// explain it), with no failed request from a client using a key that does not change.
    func testRotatedSecretIsServedAtOnceWithoutFailedRequests() throws {
        let api = try KubernetesAPIStandIn()
        let up = try TestUpstream(name: "rot-k8s")
        let oldKey = "k8s-old-\(UUID().uuidString)", newKey = "k8s-new-\(UUID().uuidString)"
        let created = api.request(method: "POST", path: "/api/v1/namespaces/default/secrets",
                                  body: #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"api-keys"},"data":{"key":"\#(base64(oldKey))"}}"#)
        XCTAssertEqual(created.status, 201, created.body)
        let r = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath, "--dev"])
        try r.start(paths: [])
        XCTAssertTrue(r.waitReady(), r.log)
        apply(api, Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("keyed", paths: ["/k"], upstream: "web", extra: """
          plugins:
            key-auth: {keys: [{secretRef: {name: api-keys, key: key}}, {value: steady-key-for-the-loop}]}

        """) + """
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: api-keys}
        spec: {provider: kubernetes, refreshInterval: 1h, kubernetes: {secretName: api-keys}}

        """)
        let port = r.port
        @Sendable func get(_ key: String) -> Int {
            httpRequest(port: port, "GET /k HTTP/1.1\r\nHost: k8s.test\r\napikey: \(key)\r\nConnection: close\r\n\r\n")?.status ?? 0
        }
        XCTAssertTrue(Poll.until(timeout: 30) { get(oldKey) == 200 }, r.log)
        XCTAssertEqual(get(newKey), 401)
        let loop = SecretsRunTests.TrafficLoop { get("steady-key-for-the-loop") == 200 }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 5 })
        let patched = api.request(method: "PATCH", path: "/api/v1/namespaces/default/secrets/api-keys",
                                  body: #"{"data":{"key":"\#(base64(newKey))"}}"#, contentType: "application/merge-patch+json")
        XCTAssertEqual(patched.status, 200, patched.body)
        let served = Poll.until(timeout: 30) { get(newKey) == 200 && get(oldKey) == 401 }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 25 })
        let traffic = loop.stop()
        XCTAssertTrue(served, "the rotated Secret is served: " + r.log)
        XCTAssertEqual(traffic.failed, 0, "\(traffic.sent) sent")
        XCTAssertEqual(SecretScan.find([oldKey, newKey], inDirectories: [r.stateDir], texts: ["log": r.log]), [])
        XCTAssertEqual(r.stop(), 0)
    }

    /// An Upstream with `service` serves the ready endpoints of the Service's EndpointSlices, mapped
    /// through the Service port's name to the target port; a changed slice is served with no failed request.
    func testEndpointSliceChangesAreServed() throws {
        let api = try KubernetesAPIStandIn()
        let one = try TestUpstream(name: "one"), two = try TestUpstream(name: "two")
        let service = api.request(method: "POST", path: "/api/v1/namespaces/default/services", body: """
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"orders"},"spec":{"ports":[{"name":"http","port":8080,"targetPort":"http"}]}}
        """)
        XCTAssertEqual(service.status, 201, service.body)
        func slice(_ port: Int, ready: Bool = true) -> String {
            #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"orders-abc","labels":{"kubernetes.io/service-name":"orders"}},"addressType":"IPv4","ports":[{"name":"http","port":\#(port)}],"endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":\#(ready)}}]}"#
        }
        XCTAssertEqual(api.request(method: "POST", path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", body: slice(one.port)).status, 201)
        let r = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath])
        try r.start(paths: [])
        XCTAssertTrue(r.waitReady(), r.log)
        apply(api, """
        apiVersion: rampart.io/v1alpha1
        kind: Upstream
        metadata: {name: orders}
        spec: {service: {name: orders, port: 8080}}
        ---
        """ + "\n" + Manifests.route("orders", paths: ["/o"], upstream: "orders"))
        XCTAssertTrue(Poll.until(timeout: 30) { Curl.get(r.url + "/o")?.body.contains("\"server\": \"one\"") ?? false }, r.log)
        let url = r.url
        let loop = SecretsRunTests.TrafficLoop { Curl.get(url + "/o")?.status == 200 }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 5 })
        let moved = api.request(method: "PUT", path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/orders-abc", body: slice(two.port))
        XCTAssertEqual(moved.status, 200, moved.body)
        XCTAssertTrue(Poll.until(timeout: 30) { Curl.get(r.url + "/o")?.body.contains("\"server\": \"two\"") ?? false }, r.log)
        let traffic = loop.stop()
        XCTAssertEqual(traffic.failed, 0, "\(traffic.sent) sent")
        // An endpoint that is not ready is not served: nothing is left, so 503, never the old node.
        XCTAssertEqual(api.request(method: "PUT", path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/orders-abc",
                                   body: slice(two.port, ready: false)).status, 200)
        XCTAssertTrue(Poll.until(timeout: 30) { Curl.get(r.url + "/o")?.status == 503 }, r.log)
        XCTAssertEqual(r.stop(), 0)
    }

    /// Two replicas with --leader-elect: both serve, exactly one writes status; after the leader is
    /// killed (SIGKILL, no release) the other takes the Lease within twice its duration and writes.
    func testOneLeaderWritesStatusAndTheOtherTakesOver() throws {
        let api = try KubernetesAPIStandIn(tls: true, clientCA: true)
        let certConfig = api.dir + "/kubeconfig-cert"
        try api.writeKubeconfig(to: certConfig, token: nil, clientCertificate: true)
        let tokenConfig = api.dir + "/kubeconfig-token"
        try api.writeKubeconfig(to: tokenConfig, token: api.token)
        let up = try TestUpstream(name: "up")
        let a = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", tokenConfig, "--leader-elect"], env: ["POD_NAME": "rampart-a"])
        let b = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", certConfig, "--leader-elect"], env: ["POD_NAME": "rampart-b"])
        try a.start(paths: [])
        try b.start(paths: [])
        XCTAssertTrue(a.waitReady() && b.waitReady(), a.log + b.log)
        apply(api, Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        XCTAssertTrue(Poll.until(timeout: 30) { Curl.get(a.url + "/x")?.status == 200 && Curl.get(b.url + "/x")?.status == 200 }, a.log + b.log)
        func holder() -> String? {
            (api.requestJSON(path: "/apis/coordination.k8s.io/v1/namespaces/default/leases/rampart-leader").json?["spec"] as? [String: Any])?["holderIdentity"] as? String
        }
        XCTAssertTrue(Poll.until(timeout: 30) { holder() != nil })
        XCTAssertEqual(api.kubectl(["wait", "--for=condition=Ready", "route/web", "--timeout=30s"]).code, 0, a.log + b.log)
        let writers = Set(api.calls().filter { $0.subresource == "status" && $0.verb == "patch" }.map(\.user))
        XCTAssertEqual(writers.count, 1, "exactly one replica writes status: \(writers)")
        let leader = holder() == "rampart-a" ? a : b, follower = leader === a ? b : a
        let followerName = leader === a ? "rampart-b" : "rampart-a"
        let leaderUser = writers.first ?? ""

        leader.process?.kill9()
        apply(api, Manifests.route("web", paths: ["/*"], upstream: "web", extra: "  priority: 5\n"))
        XCTAssertTrue(Poll.until(timeout: 2 * 15 + 5) { holder() == followerName }, follower.log)
        XCTAssertTrue(Poll.until(timeout: 20) {
            api.calls().contains { $0.subresource == "status" && $0.verb == "patch" && $0.user != leaderUser }
        }, follower.log)
        let route = api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes/web").json
        XCTAssertTrue(Poll.until(timeout: 20) {
            let status = api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes/web").json?["status"] as? [String: Any]
            return (status?["observedGeneration"] as? NSNumber)?.intValue == ((route?["metadata"] as? [String: Any])?["generation"] as? NSNumber)?.intValue
        }, "the new leader writes the new generation's status")
        XCTAssertEqual(Curl.get(follower.url + "/x")?.status, 200)
        XCTAssertEqual(follower.stop(), 0)
    }
}

/// A long stream of changes with dropped watches and expired resourceVersions (410 in both shapes)
/// in between ends with the served state equal to the final desired state: nothing lost,
/// resurrected or duplicated.
final class KubernetesStreamTests: XCTestCase {
    static let driver = #"""
    import json, random, sys, urllib.request
    url, token, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    random.seed(seed)
    base = url + "/apis/rampart.io/v1alpha1/namespaces/default/routes"
    def call(method, path, body=None, ctype="application/json"):
        req = urllib.request.Request(path, method=method, data=None if body is None else json.dumps(body).encode())
        req.add_header("Authorization", "Bearer " + token)
        req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=10) as r: return r.status
        except urllib.error.HTTPError as e: return e.code
    for i in range(count):
        n = "r%d" % random.randrange(40)
        op = random.random()
        if op < 0.2:
            call("DELETE", base + "/" + n)
        else:
            body = {"apiVersion": "rampart.io/v1alpha1", "kind": "Route", "metadata": {"name": n},
                    "spec": {"paths": ["/%s/v%d" % (n, i)], "upstreamRef": {"name": "web"}}}
            if call("POST", base, body) == 409:
                call("PATCH", base + "/" + n, {"spec": body["spec"]}, "application/merge-patch+json")
    """#

    func testThousandChangesWithDropsAndExpiryEndEqual() throws {
        let api = try KubernetesAPIStandIn(bookmarkInterval: 0.5)
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath])
        try r.start(paths: [])
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertEqual(api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: Manifests.upstream("web", port: up.port)).code, 0)
        for round in 0..<10 {
            switch round % 4 {
            case 0: api.watchFault(pathContaining: "/routes", dropAfter: 7)
            case 1: api.watchFault(pathContaining: "/routes", errorAfter: 5, errorReason: "Expired")
            case 2: api.setExpiredShape(.status); api.compact()
            default: api.watchFault(pathContaining: "/routes", splitLines: 3)
            }
            let out = try Command.run("/usr/bin/env", ["python3", "-c", Self.driver, api.url, api.token, String(round), "100"])
            XCTAssertEqual(out.code, 0, out.stderr)
            if round == 5 { api.compact() }
        }
        // The desired state: what the API server holds now.
        func desired() -> [String: [String]] {
            let items = (api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes").json?["items"] as? [[String: Any]]) ?? []
            var out: [String: [String]] = [:]
            for item in items {
                guard let name = (item["metadata"] as? [String: Any])?["name"] as? String else { continue }
                out[name] = ((item["spec"] as? [String: Any])?["paths"] as? [String]) ?? []
            }
            return out
        }
        func served() -> [String: [String]] {
            guard let body = r.api("/api/v1/config")?.body,
                  let root = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] else { return [:] }
            var out: [String: [String]] = [:]
            for item in (root["resources"] as? [[String: Any]]) ?? [] where item["kind"] as? String == "Route" {
                guard let name = (item["metadata"] as? [String: Any])?["name"] as? String else { continue }
                out[name] = ((item["spec"] as? [String: Any])?["paths"] as? [String]) ?? []
            }
            return out
        }
        let want = desired()
        XCTAssertFalse(want.isEmpty)
        XCTAssertTrue(Poll.until(timeout: 60) { served() == want }, "served \(served().count) routes, want \(want.count): \(r.log.suffix(2000))")
        // And the gateway serves exactly that: each route's current path, no deleted one.
        for (name, paths) in want.sorted(by: { $0.key < $1.key }).prefix(10) {
            XCTAssertEqual(Curl.get(r.url + (paths.first ?? "/"))?.status, 200, name)
        }
        for gone in (0..<40).map({ "r\($0)" }) where want[gone] == nil {
            XCTAssertEqual(Curl.get(r.url + "/\(gone)/v0")?.status, 404, gone)
        }
        XCTAssertTrue(r.log.contains("kubernetes"), r.log)
        XCTAssertEqual(r.stop(), 0)
    }
}

/// The RBAC in manifests/ allows exactly what the controller does: every call the stand-in recorded
/// while a leader ran the whole repertoire (lists, watches, status, Events, Leases, Secrets,
/// EndpointSlices) is allowed by manifests/rbac.yaml for the controller's service account.
final class KubernetesRBACTests: XCTestCase {
    func testEveryRecordedCallIsAllowedByTheDeployedRBAC() throws {
        // The test's own calls go as "admin"; the controller has the service account's token.
        let controllerUser = "system:serviceaccount:rampart-system:rampart"
        let api = try KubernetesAPIStandIn(user: "admin")
        api.addToken("service-account-token", user: controllerUser)
        let kubeconfig = api.dir + "/kubeconfig-sa"
        try api.writeKubeconfig(to: kubeconfig, token: "service-account-token")
        let up = try TestUpstream(name: "up")
        XCTAssertEqual(api.request(method: "POST", path: "/api/v1/namespaces/default/secrets",
                                   body: #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"k"},"data":{"key":"\#(Data("v".utf8).base64EncodedString())"}}"#).status, 201)
        let r = try RampartInstance(extraArgs: ["--source", "kubernetes", "--kubeconfig", kubeconfig, "--leader-elect", "--dev"],
                                    env: ["POD_NAME": "rampart-0", "POD_NAMESPACE": "rampart-system"])
        try r.start(paths: [])
        XCTAssertTrue(r.waitReady(), r.log)
        let applied = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: Manifests.upstream("web", port: up.port) + "---\n"
            + Manifests.route("keyed", paths: ["/k"], upstream: "web", extra: "  plugins:\n    key-auth: {keys: [{secretRef: {name: k, key: key}}]}\n")
            + "---\napiVersion: rampart.io/v1alpha1\nkind: SecretRef\nmetadata: {name: k}\nspec: {provider: kubernetes, kubernetes: {secretName: k}}\n"
            + "---\n" + Manifests.route("bad", paths: ["/b"], upstream: "missing"))
        XCTAssertEqual(applied.code, 0, applied.stderr)
        XCTAssertTrue(Poll.until(timeout: 30) { Curl.get(r.url + "/k", headers: ["apikey: v"])?.status == 200 }, r.log)
        XCTAssertTrue(Poll.until(timeout: 30) {
            let events = (api.requestJSON(path: "/api/v1/namespaces/default/events").json?["items"] as? [[String: Any]]) ?? []
            return !events.isEmpty
        }, r.log)
        XCTAssertTrue(Poll.until(timeout: 30) {
            api.requestJSON(path: "/apis/coordination.k8s.io/v1/namespaces/rampart-system/leases/rampart-instance-rampart-0").status == 200
        }, r.log)
        XCTAssertEqual(r.stop(), 0)

        let policy = try RBACPolicy(yaml: String(contentsOfFile: PackagePaths.root.appendingPathComponent("manifests/rbac.yaml").path, encoding: .utf8),
                                    file: "manifests/rbac.yaml")
        let calls = api.calls().filter { $0.user == controllerUser }
        XCTAssertGreaterThan(calls.count, 20, "the controller's calls were recorded")
        for needed in ["list", "watch", "patch", "create", "get"] { XCTAssertTrue(calls.contains { $0.verb == needed }, needed) }
        XCTAssertTrue(calls.contains { $0.resource == "leases" && $0.namespace == "rampart-system" })
        XCTAssertTrue(calls.contains { $0.resource == "events" && $0.verb == "create" })
        XCTAssertEqual(Set(policy.denied(calls).map(\.description)).sorted(), [], "calls the deployed RBAC would refuse")
    }
}
