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
        apply(api, Manifests.route("hello", paths: ["/hello/*"], upstream: "one", extra: "  priority: lots\n"))
        XCTAssertTrue(Poll.until {
            let conditions = ((api.requestJSON(path: "/apis/rampart.io/v1alpha1/namespaces/default/routes/hello").json?["status"] as? [String: Any])?["conditions"] as? [[String: Any]]) ?? []
            return conditions.contains { $0["type"] as? String == "Accepted" && $0["status"] as? String == "False" && ($0["message"] as? String ?? "").contains("spec.priority") }
        }, r.log)
        XCTAssertTrue(Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"two\"") ?? false, "the last good version serves")
        XCTAssertTrue(Poll.until {
            let events = (api.requestJSON(path: "/api/v1/namespaces/default/events").json?["items"] as? [[String: Any]]) ?? []
            return events.contains { $0["type"] as? String == "Warning" && ($0["message"] as? String ?? "").contains("spec.priority") }
        })

        // Delete: no longer served.
        let deleted = api.kubectl(["delete", "route", "hello"])
        XCTAssertEqual(deleted.code, 0, deleted.stderr)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/hello/x")?.status == 404 }, r.log)
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
