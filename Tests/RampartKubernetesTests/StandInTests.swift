import Foundation
import RampartHTTPClient
import Synchronization
import TestSupport
import XCTest
@testable import RampartKubernetes

let routes = ResourceType(group: "rampart.io", version: "v1alpha1", plural: "routes", kind: "Route")

/// Shared helpers: a stand-in, a client for it, and objects made through the client.
class StandInTestCase: XCTestCase {
    var standIn: KubernetesAPIStandIn!
    var client: KubernetesClient!

    override func setUpWithError() throws {
        standIn = try KubernetesAPIStandIn()
        client = KubernetesClient(config: try KubeConfig.load(kubeconfigPath: standIn.kubeconfigPath))
    }

    override func tearDown() {
        standIn?.stop()
        standIn = nil
    }

    func create(_ name: String, namespace: String = "shop", spec: [String: Any] = ["hosts": ["a.example"]]) throws {
        let object: [String: Any] = ["apiVersion": "rampart.io/v1alpha1", "kind": "Route",
                                     "metadata": ["name": name, "namespace": namespace], "spec": spec]
        try client.send("POST", routes.collectionPath(namespace: namespace), body: try KubeJSON.bytes(object))
    }

    func modify(_ name: String, namespace: String = "shop", value: Int) throws {
        try client.send("PATCH", routes.objectPath(namespace: namespace, name: name),
                        body: try KubeJSON.bytes(["spec": ["priority": value]]), contentType: "application/merge-patch+json")
    }

    func delete(_ name: String, namespace: String = "shop") throws {
        try client.send("DELETE", routes.objectPath(namespace: namespace, name: name))
    }

    /// The server's objects: key → resourceVersion.
    func serverState(namespace: String? = nil) throws -> [ObjectKey: String] {
        let list = try client.getObject(routes.collectionPath(namespace: namespace))
        var out: [ObjectKey: String] = [:]
        for case let item as [String: Any] in list["items"] as? [Any] ?? [] {
            let object = try KubeObject(json: item, defaultKind: "Route")
            out[object.key] = object.metadata.resourceVersion
        }
        return out
    }

    func calls(_ verb: String, resource: String = "routes", subresource: String = "") -> [KubernetesCall] {
        standIn.calls().filter { $0.verb == verb && $0.resource == resource && $0.subresource == subresource }
    }
}

/// A consumer of a reflector: the cache it keeps, every change that cache saw, every raw event.
final class Mirror: Sendable {
    let cache = Mutex(ObjectCache())
    let changes = Mutex<[String]>([])
    let events = Mutex<[String]>([])
    let replacements = Mutex(0)
    let logs = Mutex<[String]>([])

    func handle(_ event: WatchEvent) {
        switch event {
        case .replaced: replacements.withLock { $0 += 1 }
        case .added(let o): events.withLock { $0.append("ADDED \(o.key) \(o.metadata.resourceVersion)") }
        case .modified(let o): events.withLock { $0.append("MODIFIED \(o.key) \(o.metadata.resourceVersion)") }
        case .deleted(let o): events.withLock { $0.append("DELETED \(o.key) \(o.metadata.resourceVersion)") }
        }
        let made = cache.withLock { $0.apply(event) }
        changes.withLock { list in
            for change in made {
                switch change {
                case .added(let o): list.append("+\(o.key)")
                case .modified(_, let o): list.append("~\(o.key)")
                case .deleted(let o): list.append("-\(o.key)")
                }
            }
        }
    }

    var state: [ObjectKey: String] { cache.withLock { $0.objects.mapValues(\.metadata.resourceVersion) } }
    var log: @Sendable (String) -> Void { { [self] line in logs.withLock { $0.append(line) } } }
}

final class ListWatchStandInTests: StandInTestCase {
    func reflector(_ mirror: Mirror, namespace: String? = nil, pageSize: Int = 500) -> ListWatch {
        let reflector = ListWatch(client: client, config: .init(path: routes.collectionPath(namespace: namespace), kind: "Route", pageSize: pageSize,
                                                                backoffInitial: 0.1, backoffMax: 1), log: mirror.log)
        reflector.start(mirror.handle)
        addTeardownBlock { reflector.stop() }
        return reflector
    }

    func converge(_ mirror: Mirror, namespace: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let want = try serverState(namespace: namespace)
        let same = Poll.until(timeout: 20) { mirror.state == want }
        XCTAssertTrue(same, "cache \(mirror.state.keys.sorted()) vs server \(want.keys.sorted())", file: file, line: line)
    }

    /// No event was delivered twice (a resume from an older resourceVersion would replay some).
    func assertNoReplays(_ mirror: Mirror, file: StaticString = #filePath, line: UInt = #line) {
        let events = mirror.events.withLock { $0 }
        XCTAssertEqual(events.count, Set(events).count, "replayed events: \(events)", file: file, line: line)
    }

    func testListFollowsContinueThenWatchesChanges() throws {
        for i in 0..<7 { try create("r\(i)") }
        let mirror = Mirror()
        let reflector = reflector(mirror, pageSize: 3)
        XCTAssertTrue(Poll.until(timeout: 20) { mirror.replacements.withLock { $0 } == 1 })
        XCTAssertEqual(mirror.state.count, 7)
        XCTAssertEqual(calls("list").count, 3, "pages of 3, 3 and 1")
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        try create("new")
        try modify("r1", value: 5)
        try delete("r2")
        try converge(mirror)
        XCTAssertEqual(mirror.changes.withLock { Array($0.suffix(3)) }, ["+shop/new", "~shop/r1", "-shop/r2"])
        XCTAssertEqual(reflector.counters.lists, 1)
        assertNoReplays(mirror)
    }

    func testLinesSplitAcrossChunksAreJoined() throws {
        standIn.watchFault(pathContaining: "routes", splitLines: 9)
        let mirror = Mirror()
        _ = reflector(mirror)
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        for i in 0..<4 { try create("split\(i)") }
        try converge(mirror)
        XCTAssertEqual(mirror.events.withLock { $0.count }, 4)
        XCTAssertTrue(mirror.logs.withLock { $0.isEmpty }, "\(mirror.logs.withLock { $0 })")
    }

    func testDroppedWatchResumesWithoutRelist() throws {
        try create("before")
        standIn.watchFault(pathContaining: "routes", dropAfter: 2)
        let mirror = Mirror()
        let reflector = reflector(mirror)
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        for i in 0..<6 { try create("r\(i)") }
        try modify("before", value: 1)
        try delete("r0")
        try converge(mirror)
        XCTAssertEqual(reflector.counters.lists, 1, "resumed from the last resourceVersion")
        XCTAssertEqual(calls("list").count, 2, "the reflector's one list, and the test's own in converge()")
        XCTAssertGreaterThanOrEqual(calls("watch").count, 2)
        XCTAssertEqual(mirror.replacements.withLock { $0 }, 1)
        assertNoReplays(mirror)
    }

    /// The watch is cut; while every GET fails, changes happen and the server compacts; the
    /// resume is then answered 410 (as `shape`): a relist, whose diff brings the gap's deletes.
    func expiredRelists(shape: KubernetesAPIStandIn.ExpiredShape) throws {
        standIn.setExpiredShape(shape)
        for i in 0..<5 { try create("keep\(i)") }
        for i in 0..<4 { try create("gone\(i)") }
        standIn.watchFault(pathContaining: "routes", dropAfter: 2)
        let mirror = Mirror()
        let reflector = reflector(mirror)
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        standIn.failNext(-1, status: 500, pathContaining: "routes", method: "GET")
        try modify("keep0", value: 1)
        try modify("keep1", value: 1)                        // the second event: the watch drops after it
        for i in 0..<4 { try delete("gone\(i)") }           // never seen as events
        try create("born")
        try modify("keep2", value: 2)
        XCTAssertTrue(Poll.until(timeout: 20) { reflector.counters.watchFailures >= 2 }, "the resume is failing")
        standIn.compact()
        standIn.resetFaults()
        XCTAssertTrue(Poll.until(timeout: 20) { reflector.counters.expired >= 1 }, "410 seen")
        try converge(mirror)
        XCTAssertEqual(reflector.counters.lists, 2, "one relist")
        let changes = mirror.changes.withLock { $0 }
        for i in 0..<4 { XCTAssertEqual(changes.filter { $0 == "-shop/gone\(i)" }.count, 1, "gone\(i) deleted once: \(changes)") }
        XCTAssertEqual(changes.filter { $0 == "+shop/born" }.count, 1, "nothing lost: \(changes)")
        XCTAssertEqual(changes.filter { $0.hasPrefix("+shop/keep") }.count, 5, "nothing duplicated: \(changes)")
        XCTAssertFalse(mirror.state.keys.contains { $0.name.hasPrefix("gone") }, "nothing resurrected")
        XCTAssertTrue(mirror.logs.withLock { $0.contains { $0.contains("expired (410)") } })
        assertNoReplays(mirror)
    }

    func testExpiredAsHTTPStatusRelists() throws { try expiredRelists(shape: .status) }
    func testExpiredAsErrorEventRelists() throws { try expiredRelists(shape: .event) }

    /// An ERROR event with reason Gone (not Expired) and code 410 is the same signal: relist.
    func testErrorEventGoneRelists() throws {
        try create("a")
        standIn.watchFault(pathContaining: "routes", errorAfter: 1, errorReason: "Gone")
        let mirror = Mirror()
        let reflector = reflector(mirror)
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        try create("b")
        XCTAssertTrue(Poll.until(timeout: 20) { reflector.counters.lists == 2 })
        XCTAssertEqual(reflector.counters.expired, 1)
        try converge(mirror)
        assertNoReplays(mirror)
    }

    /// A 17 MiB event (over the 16 MiB limit) is refused; the watch resumes and later events arrive.
    func testEventOver16MiBIsRefusedAndTheWatchResumed() throws {
        standIn.watchFault(pathContaining: "routes", hugeEventBytes: 17 << 20)
        let mirror = Mirror()
        let reflector = reflector(mirror)
        XCTAssertTrue(Poll.until(timeout: 30) { reflector.counters.watchFailures >= 1 })
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        try create("after")
        try converge(mirror)
        XCTAssertFalse(mirror.events.withLock { $0.contains { $0.contains("huge") } }, "the oversize event never reached the handler")
        XCTAssertTrue(mirror.logs.withLock { $0.contains { $0.contains("over 16777216 bytes") } }, "\(mirror.logs.withLock { $0 })")
        XCTAssertEqual(reflector.counters.lists, 1)
    }

    func testBookmarksAdvanceTheResourceVersion() throws {
        standIn.setBookmarkInterval(0.2)
        let mirror = Mirror()
        let reflector = reflector(mirror, namespace: "shop")
        XCTAssertTrue(standIn.waitForWatches(pathContaining: "routes"))
        let listed = reflector.resourceVersion
        try create("elsewhere", namespace: "other")     // not in the watched namespace: only a bookmark tells
        let now = standIn.state().resourceVersion
        XCTAssertNotEqual(listed, now)
        XCTAssertTrue(Poll.until(timeout: 10) { reflector.resourceVersion == now }, "a bookmark carries \(now)")
        XCTAssertTrue(mirror.events.withLock { $0.isEmpty })
    }

    func testBadTokenGivesAClearErrorWithoutTheToken() throws {
        let path = standIn.dir + "/bad-kubeconfig"
        try standIn.writeKubeconfig(to: path, token: "not-the-right-token-4711")
        let bad = KubernetesClient(config: try KubeConfig.load(kubeconfigPath: path))
        XCTAssertThrowsError(try bad.send("GET", routes.collectionPath(namespace: nil))) { error in
            guard let status = error as? APIStatusError else { return XCTFail("\(error)") }
            XCTAssertEqual(status.code, 401)
            XCTAssertEqual(status.reason, "Unauthorized")
            XCTAssertTrue("\(error)".hasPrefix("GET /apis/rampart.io/v1alpha1/routes: 401 Unauthorized"), "\(error)")
            XCTAssertFalse("\(error)".contains("4711"))
        }
        let mirror = Mirror()
        let reflector = ListWatch(client: bad, config: .init(path: routes.collectionPath(namespace: nil), kind: "Route", backoffInitial: 0.05, backoffMax: 0.1),
                                  log: mirror.log)
        reflector.start(mirror.handle)
        XCTAssertTrue(Poll.until(timeout: 20) { mirror.logs.withLock { $0.count } >= 2 })
        reflector.stop()
        let logs = mirror.logs.withLock { $0 }
        XCTAssertTrue(logs.allSatisfy { $0.contains("401 Unauthorized") && !$0.contains("4711") }, "\(logs)")
    }

    /// A 429's Retry-After is honoured (API Priority and Fairness asks for it): the retry waits
    /// for it, so a stop during that wait ends the call after exactly one request. Without it the
    /// client's own 10 ms backoff would have retried, and the second request succeeded.
    func testTooManyRequestsWaitsForRetryAfter() throws {
        standIn.resetCalls()
        standIn.failNext(1, status: 429, pathContaining: "routes", retryAfter: 30, method: "GET")
        let stop = StopSignal()
        let standIn = self.standIn!
        let stopper = Thread {
            _ = Poll.until(timeout: 10) { standIn.calls().contains { $0.resource == "routes" } }
            stop.stop()
        }
        stopper.start()
        let policy = RetryPolicy(attempts: 4, retryServerErrors: true, initialDelay: 0.01, maxDelay: 0.01)
        XCTAssertThrowsError(try client.send("GET", routes.collectionPath(namespace: "shop"), retry: policy, stop: stop)) {
            XCTAssertEqual(($0 as? APIStatusError)?.code, 429)
        }
        XCTAssertEqual(standIn.calls().filter { $0.resource == "routes" }.count, 1)
    }

    func testRetriesTooManyRequestsAndServerErrorsButNotACreate() throws {
        standIn.failNext(2, status: 429, pathContaining: "routes", retryAfter: 0, method: "GET")
        XCTAssertNoThrow(try client.send("GET", routes.collectionPath(namespace: "shop")))
        standIn.failNext(1, status: 503, pathContaining: "routes", method: "GET")
        XCTAssertNoThrow(try client.send("GET", routes.collectionPath(namespace: "shop")))
        standIn.failNext(1, status: 500, pathContaining: "routes", method: "POST")
        XCTAssertThrowsError(try create("once")) { XCTAssertEqual(($0 as? APIStatusError)?.code, 500) }
    }
}

final class ClientCertificateStandInTests: XCTestCase {
    func testClientCertificateFromKubeconfigDataOverTLS() throws {
        let standIn = try KubernetesAPIStandIn(clientCA: true)
        defer { standIn.stop() }
        let client = KubernetesClient(config: try KubeConfig.load(kubeconfigPath: standIn.kubeconfigPath))
        guard case .pem? = client.config.clientKey, case .pem? = client.config.ca else { return XCTFail("the stand-in's kubeconfig embeds -data") }
        XCTAssertNoThrow(try client.getObject(routes.collectionPath(namespace: nil)))
        XCTAssertEqual(standIn.calls().last?.user, "client-one")
        // A certificate from another CA is not accepted.
        let other = standIn.dir + "/other-kubeconfig"
        try standIn.writeKubeconfig(to: other, token: nil, clientCertificate: true, certificate: "otherclient")
        let stranger = KubernetesClient(config: try KubeConfig.load(kubeconfigPath: other))
        XCTAssertThrowsError(try stranger.getObject(routes.collectionPath(namespace: nil)))
        // Without the CA, the server's certificate is not trusted.
        var untrusted = client.config
        untrusted.ca = nil
        XCTAssertThrowsError(try KubernetesClient(config: untrusted).getObject(routes.collectionPath(namespace: nil))) { error in
            XCTAssertTrue(error is HTTPClientError, "\(error)")
        }
    }
}

final class InClusterStandInTests: XCTestCase {
    /// The service-account token is re-read when kubelet rotates it: the next request carries the new one.
    func testRotatedServiceAccountTokenIsSentNext() throws {
        let standIn = try KubernetesAPIStandIn(tls: true)
        defer { standIn.stop() }
        guard let pki = standIn.pki else { return XCTFail("TLS stand-in without PKI") }
        let dir = try TempDir.make("serviceaccount")
        try standIn.token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: pki.path("ca.crt"), toPath: dir + "/ca.crt")
        try "rampart-system".write(toFile: dir + "/namespace", atomically: true, encoding: .utf8)
        let config = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(standIn.port)],
                                              serviceAccountDirectory: dir)
        let client = KubernetesClient(config: config)
        XCTAssertNoThrow(try client.getObject(routes.collectionPath(namespace: nil)))
        XCTAssertEqual(standIn.calls().last?.user, "system:serviceaccount:rampart-system:rampart")
        standIn.addToken("rotated-token-2", user: "rotated-user")
        try "rotated-token-2".write(toFile: dir + "/token.tmp", atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(dir + "/token.tmp", dir + "/token"), 0)
        XCTAssertNoThrow(try client.getObject(routes.collectionPath(namespace: nil)))
        XCTAssertEqual(standIn.calls().last?.user, "rotated-user")
    }
}

final class StatusStandInTests: StandInTestCase {
    func conditions(_ name: String) throws -> (generation: Int64?, status: ObservedStatus) {
        let object = try client.getObject(routes.objectPath(namespace: "shop", name: name))
        return (KubeJSON.int64((object["status"] as? [String: Any])?["observedGeneration"]), ObservedStatus(object: object))
    }

    func testConditionsWrittenOnlyWhenChangedAndConflictsRetried() throws {
        try create("orders")
        let writer = StatusWriter(client: client)
        let accepted = [ConditionSpec(type: "Accepted", status: .true, reason: "Valid"),
                        ConditionSpec(type: "ResolvedRefs", status: .true, reason: "Resolved"),
                        ConditionSpec(type: "Ready", status: .false, reason: "Pending", message: String(repeating: "m", count: 5000))]
        XCTAssertTrue(try writer.update(routes, namespace: "shop", name: "orders", observedGeneration: 1, conditions: accepted))
        let first = try conditions("orders")
        XCTAssertEqual(first.generation, 1)
        XCTAssertEqual(first.status.conditions.map(\.type), ["Accepted", "ResolvedRefs", "Ready"])
        XCTAssertEqual(first.status.conditions.map(\.observedGeneration), [1, 1, 1])
        XCTAssertLessThanOrEqual(first.status.conditions[2].message.utf8.count, 1024)
        XCTAssertNotNil(KubeTime.parse(first.status.conditions[0].lastTransitionTime))
        XCTAssertEqual(calls("patch", subresource: "status").count, 1)

        // Unchanged: no write.
        XCTAssertFalse(try writer.update(routes, namespace: "shop", name: "orders", observedGeneration: 1, conditions: accepted))
        XCTAssertEqual(calls("patch", subresource: "status").count, 1)

        // A new reason with the same status keeps lastTransitionTime; a 409 is answered by reading again.
        standIn.failNext(1, status: 409, pathContaining: "orders/status", method: "PATCH")
        var ready = accepted
        ready[2] = ConditionSpec(type: "Ready", status: .false, reason: "StillPending")
        XCTAssertTrue(try writer.update(routes, namespace: "shop", name: "orders", observedGeneration: 1, conditions: ready))
        XCTAssertEqual(calls("patch", subresource: "status").count, 3, "one 409, then the write")
        let second = try conditions("orders")
        XCTAssertEqual(second.status.conditions[2].reason, "StillPending")
        XCTAssertEqual(second.status.conditions[2].lastTransitionTime, first.status.conditions[2].lastTransitionTime)

        // A deleted object: nothing to write, no error.
        try delete("orders")
        XCTAssertFalse(try writer.update(routes, namespace: "shop", name: "orders", observedGeneration: 2, conditions: accepted))
    }

    func testWarningEventsAreDeduplicated() throws {
        try create("bad")
        let object = try KubeObject(json: try client.getObject(routes.objectPath(namespace: "shop", name: "bad")))
        let recorder = EventRecorder(client: client, instance: "test-1")
        XCTAssertTrue(try recorder.warning(InvolvedObject(object.metadata), reason: "Invalid", message: "spec.paths: required"))
        XCTAssertFalse(try recorder.warning(InvolvedObject(object.metadata), reason: "Invalid", message: "spec.paths: required"))
        XCTAssertTrue(try recorder.warning(InvolvedObject(object.metadata), reason: "Invalid", message: "spec.hosts: required"))
        XCTAssertEqual(calls("create", resource: "events").count, 2)
        let events = try client.getObject(ResourceType.event.collectionPath(namespace: "shop"))["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(events.count, 2)
        XCTAssertEqual(events.first?["type"] as? String, "Warning")
        XCTAssertEqual((events.first?["involvedObject"] as? [String: Any])?["name"] as? String, "bad")
        XCTAssertEqual((events.first?["involvedObject"] as? [String: Any])?["uid"] as? String, object.metadata.uid)
    }
}

final class LeaderElectionStandInTests: StandInTestCase {
    final class Flags: Sendable {
        let leading = Mutex(false)
        let starts = Mutex(0)
        let stops = Mutex(0)
    }

    func elector(_ identity: String, _ flags: Flags, lease: Double = 3, renew: Double = 2, retry: Double = 0.3) -> LeaderElector {
        let elector = LeaderElector(client: client, config: .init(namespace: "rampart-system", identity: identity,
                                                                  leaseDuration: lease, renewDeadline: renew, retryPeriod: retry))
        elector.start(onStartedLeading: {
            flags.leading.withLock { $0 = true }
            flags.starts.withLock { $0 += 1 }
        }, onStoppedLeading: {
            flags.leading.withLock { $0 = false }
            flags.stops.withLock { $0 += 1 }
        })
        addTeardownBlock { elector.stop(release: false) }
        return elector
    }

    func lease(_ name: String = "rampart-leader") throws -> LeaseRecord {
        LeaseRecord(spec: try client.getObject(ResourceType.lease.objectPath(namespace: "rampart-system", name: name))["spec"] as? [String: Any] ?? [:])
    }

    func testExactlyOneLeadsAndTheOtherTakesOverAfterAnAbruptStop() throws {
        let flagsA = Flags(), flagsB = Flags()
        let a = elector("replica-a", flagsA)
        let b = elector("replica-b", flagsB)
        XCTAssertTrue(Poll.until(timeout: 20) { a.isLeader || b.isLeader })
        // Let the leader renew twice while the other keeps trying: still one leader.
        let first = try lease()
        XCTAssertTrue(Poll.until(timeout: 20) { (try? self.lease().renewTime) != first.renewTime })
        let second = try lease()
        XCTAssertTrue(Poll.until(timeout: 20) { (try? self.lease().renewTime) != second.renewTime })
        XCTAssertNotEqual(a.isLeader, b.isLeader, "exactly one leads")
        let (leader, follower, followerFlags) = a.isLeader ? (a, b, flagsB) : (b, a, flagsA)
        let record = try lease()
        XCTAssertEqual(record.holderIdentity, leader.config.identity)
        XCTAssertEqual(record.leaseDurationSeconds, 3)
        XCTAssertNotNil(record.renewTime.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression), record.renewTime)
        XCTAssertEqual(followerFlags.starts.withLock { $0 }, 0)

        leader.stop(release: false)                     // as a crash: the Lease is left to run out
        XCTAssertTrue(Poll.until(timeout: 2 * 3) { follower.isLeader }, "taken over within twice the lease duration")
        XCTAssertEqual(followerFlags.starts.withLock { $0 }, 1)
        let taken = try lease()
        XCTAssertEqual(taken.holderIdentity, follower.config.identity)
        XCTAssertEqual(taken.leaseTransitions, record.leaseTransitions + 1)
        XCTAssertNotEqual(taken.acquireTime, record.acquireTime)
    }

    func testLeaderStepsDownWhenRenewalsFailAndLeadsAgainAfter() throws {
        let flags = Flags()
        let a = elector("replica-a", flags)
        XCTAssertTrue(Poll.until(timeout: 20) { flags.leading.withLock { $0 } })
        standIn.failNext(-1, status: 500, pathContaining: "leases/rampart-leader")
        XCTAssertTrue(Poll.until(timeout: 2 + 5) { !flags.leading.withLock { $0 } }, "stopped leading past the renew deadline")
        XCTAssertFalse(a.isLeader)
        XCTAssertEqual(flags.stops.withLock { $0 }, 1)
        standIn.resetFaults()
        XCTAssertTrue(Poll.until(timeout: 20) { a.isLeader })
        XCTAssertEqual(flags.starts.withLock { $0 }, 2)
    }

    func testGracefulStopHandsTheLeaseOverAtOnce() throws {
        let flagsA = Flags(), flagsB = Flags()
        // A long lease: B can only lead soon if A released it.
        let a = elector("replica-a", flagsA, lease: 60, renew: 40, retry: 0.3)
        XCTAssertTrue(Poll.until(timeout: 20) { a.isLeader })
        let b = elector("replica-b", flagsB, lease: 60, renew: 40, retry: 0.3)
        a.stop(release: true)
        XCTAssertEqual(flagsA.stops.withLock { $0 }, 1)
        XCTAssertTrue(Poll.until(timeout: 10) { b.isLeader }, "released, not waited out")
    }

    func testInstanceHeartbeatRenewsItsOwnLease() throws {
        let heartbeat = InstanceHeartbeat(client: client, namespace: "rampart-system", identity: "Rampart_7d9f.ABC", interval: 60)
        XCTAssertEqual(heartbeat.leaseName, "rampart-instance-rampart-7d9f.abc")
        try heartbeat.beat()
        let first = try lease(heartbeat.leaseName)
        XCTAssertEqual(first.holderIdentity, "Rampart_7d9f.ABC")
        XCTAssertTrue(Poll.until(timeout: 10) {
            try? heartbeat.beat()
            return (try? self.lease(heartbeat.leaseName).renewTime) != first.renewTime
        })
        XCTAssertEqual(try lease(heartbeat.leaseName).acquireTime, first.acquireTime)
    }
}
