import Foundation
import XCTest
@testable import RampartKubernetes

final class KubeJSONTests: XCTestCase {
    func testDeepNestingIsRefusedBeforeParsing() {
        let deep = Array(("{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}").utf8)
        XCTAssertThrowsError(try KubeJSON.object(deep)) { XCTAssertTrue("\($0)".contains("nested deeper")) }
        // Brackets inside strings do not count.
        let quoted = Array(("{\"a\":\"" + String(repeating: "[", count: 1000) + "\\\"]\"}").utf8)
        XCTAssertNoThrow(try KubeJSON.object(quoted))
    }

    func testNotAnObject() {
        XCTAssertThrowsError(try KubeJSON.object(Array("[1]".utf8)))
        XCTAssertThrowsError(try KubeJSON.object(Array("{\"a\":".utf8)))
        XCTAssertThrowsError(try KubeJSON.object(Array("{}".utf8), maxBytes: 1))
    }

    func testStatusErrorDecodingAndSanitising() {
        let body = Array(#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409,"message":"the object has been modified\nFAKE LOG LINE"}"#.utf8)
        let error = APIStatusError.decode(status: 409, body: body, verb: "PUT", path: "/x")
        XCTAssertEqual(error.code, 409)
        XCTAssertEqual(error.reason, "Conflict")
        XCTAssertEqual(error.message, "the object has been modified FAKE LOG LINE", "a server cannot forge a log line")
        XCTAssertEqual("\(error)", "PUT /x: 409 Conflict: the object has been modified FAKE LOG LINE")
        let plain = APIStatusError.decode(status: 503, body: Array("<html>".utf8))
        XCTAssertEqual(plain.reason, "ServiceUnavailable")
        XCTAssertEqual(plain.message, "")
        let huge = APIStatusError.decode(status: 500, body: Array(("{\"kind\":\"Status\",\"message\":\"" + String(repeating: "x", count: 100_000) + "\"}").utf8))
        XCTAssertLessThan(huge.message.count, 600)
    }

    func testObjectMetadataAndDefaults() throws {
        let item: [String: Any] = ["metadata": ["name": "orders", "namespace": "shop", "resourceVersion": "12", "generation": 3, "uid": "u-1"]]
        let object = try KubeObject(json: item, defaultKind: "Route", defaultAPIVersion: "rampart.io/v1alpha1")
        XCTAssertEqual(object.metadata, ObjectMetadata(apiVersion: "rampart.io/v1alpha1", kind: "Route", namespace: "shop", name: "orders",
                                                       resourceVersion: "12", generation: 3, uid: "u-1"))
        XCTAssertEqual(try object.json()["kind"] as? String, "Route", "the raw JSON carries the filled-in kind")
        XCTAssertThrowsError(try KubeObject(json: ["metadata": ["namespace": "x"]]))
        XCTAssertThrowsError(try KubeObject(json: ["kind": "Route"]))
        // A generation that is not an integer is not trusted.
        let odd = try KubeObject(json: ["metadata": ["name": "a", "generation": 1.5]])
        XCTAssertNil(odd.metadata.generation)
    }

    func testPaths() {
        let routes = ResourceType(group: "rampart.io", version: "v1alpha1", plural: "routes", kind: "Route")
        XCTAssertEqual(routes.collectionPath(namespace: nil), "/apis/rampart.io/v1alpha1/routes")
        XCTAssertEqual(routes.objectPath(namespace: "shop", name: "orders"), "/apis/rampart.io/v1alpha1/namespaces/shop/routes/orders")
        XCTAssertEqual(ResourceType.secret.objectPath(namespace: "a", name: "b"), "/api/v1/namespaces/a/secrets/b")
        XCTAssertEqual(routes.objectPath(namespace: "a", name: "../../x"), "/apis/rampart.io/v1alpha1/namespaces/a/routes/..%2F..%2Fx")
        let client = KubernetesClient(config: KubeConfig(server: "https://k:6443/"))
        XCTAssertEqual(client.url("/api/v1/pods", query: [("labelSelector", "a=b,c in (d)"), ("continue", "x/y+z")]),
                       "https://k:6443/api/v1/pods?labelSelector=a%3Db%2Cc%20in%20%28d%29&continue=x%2Fy%2Bz")
    }
}

final class KubeTimeTests: XCTestCase {
    func testFormats() {
        let date = Date(timeIntervalSince1970: 1_767_225_610.123456)
        XCTAssertEqual(KubeTime.microTime(date), "2026-01-01T00:00:10.123456Z")
        XCTAssertEqual(KubeTime.time(date), "2026-01-01T00:00:10Z")
        XCTAssertEqual(KubeTime.microTime(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000000Z")
    }

    func testParse() throws {
        XCTAssertEqual(try XCTUnwrap(KubeTime.parse("2026-01-01T00:00:10.123456Z")).timeIntervalSince1970, 1_767_225_610.123456, accuracy: 1e-5)
        XCTAssertEqual(KubeTime.parse("2026-01-01T00:00:10Z")?.timeIntervalSince1970, 1_767_225_610)
        XCTAssertEqual(KubeTime.parse("2026-01-01T02:00:10+02:00")?.timeIntervalSince1970, 1_767_225_610)
        for bad in ["", "2026-01-01", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk"] {
            XCTAssertNil(KubeTime.parse(bad), bad)
        }
    }
}

final class ObjectCacheTests: XCTestCase {
    func object(_ name: String, _ version: String, namespace: String = "ns") throws -> KubeObject {
        try KubeObject(json: ["kind": "Route", "metadata": ["name": name, "namespace": namespace, "resourceVersion": version]])
    }

    func names(_ changes: [ObjectCache.Change]) -> [String] {
        changes.map {
            switch $0 {
            case .added(let o): return "+\(o.key)"
            case .modified(_, let o): return "~\(o.key)"
            case .deleted(let o): return "-\(o.key)"
            }
        }
    }

    func testRelistBecomesAddsModificationsAndDeletes() throws {
        var cache = ObjectCache()
        XCTAssertEqual(names(cache.apply(.replaced([try object("a", "1"), try object("b", "1"), try object("c", "1")]))), ["+ns/a", "+ns/b", "+ns/c"])
        // Meanwhile (a 410 gap): b changed, c was deleted, d was created.
        XCTAssertEqual(names(cache.apply(.replaced([try object("a", "1"), try object("b", "7"), try object("d", "8")]))), ["~ns/b", "+ns/d", "-ns/c"])
        XCTAssertEqual(cache.objects.keys.sorted().map(\.description), ["ns/a", "ns/b", "ns/d"])
    }

    func testRepeatedEventsChangeNothing() throws {
        var cache = ObjectCache()
        XCTAssertEqual(names(cache.apply(.added(try object("a", "1")))), ["+ns/a"])
        XCTAssertEqual(names(cache.apply(.added(try object("a", "1")))), [], "a replayed ADDED is no duplicate")
        XCTAssertEqual(names(cache.apply(.modified(try object("a", "2")))), ["~ns/a"])
        XCTAssertEqual(names(cache.apply(.deleted(try object("a", "3")))), ["-ns/a"])
        XCTAssertEqual(names(cache.apply(.deleted(try object("a", "3")))), [], "a replayed DELETED resurrects nothing")
    }
}

final class StatusMergeTests: XCTestCase {
    func writer(at time: Double) -> StatusWriter {
        StatusWriter(client: KubernetesClient(config: KubeConfig(server: "https://127.0.0.1:1")), now: { Date(timeIntervalSince1970: time) })
    }

    func testLastTransitionTimeKeptWhileStatusStaysAndForeignConditionsKept() {
        let first = writer(at: 1_767_225_600).merge([ConditionSpec(type: "Ready", status: .false, reason: "Pending")],
                                                    into: ObservedStatus(), generation: 1)
        XCTAssertEqual(first.conditions[0].lastTransitionTime, "2026-01-01T00:00:00Z")
        var withForeign = first
        withForeign.conditions.append(Condition(type: "Synced", status: "True", reason: "ArgoCD", message: "", observedGeneration: nil,
                                                lastTransitionTime: "2025-01-01T00:00:00Z"))
        // Same status, new reason and generation: the transition time stays.
        let second = writer(at: 1_767_225_700).merge([ConditionSpec(type: "Ready", status: .false, reason: "StillPending", message: "m")],
                                                     into: withForeign, generation: 2)
        XCTAssertEqual(second.conditions[0].lastTransitionTime, "2026-01-01T00:00:00Z")
        XCTAssertEqual(second.conditions[0].observedGeneration, 2)
        XCTAssertEqual(second.conditions.map(\.type), ["Ready", "Synced"])
        // The status flips: a new transition time.
        let third = writer(at: 1_767_225_800).merge([ConditionSpec(type: "Ready", status: .true, reason: "Serving")], into: second, generation: 2)
        XCTAssertEqual(third.conditions[0].lastTransitionTime, "2026-01-01T00:03:20Z")
        // Nothing changed: the merge gives the input back, so no write is made.
        XCTAssertEqual(writer(at: 1_767_226_000).merge([ConditionSpec(type: "Ready", status: .true, reason: "Serving")], into: third, generation: 2), third)
    }

    func testMessagesCappedAndReasonsMadeValid() {
        let long = String(repeating: "é", count: 2000)
        let capped = capped(long)
        XCTAssertLessThanOrEqual(capped.utf8.count, maxStatusMessageBytes)
        XCTAssertTrue(capped.hasSuffix("…"))
        XCTAssertEqual(validReason("Secret Unavailable!"), "SecretUnavailable")
        XCTAssertEqual(validReason("1bad"), "bad")
        XCTAssertEqual(validReason("\n"), "Unspecified")
    }
}
