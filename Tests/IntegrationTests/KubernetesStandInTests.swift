import Foundation
import TestSupport
import XCTest

/// The Kubernetes-API test stand-in speaks the wire format: proven with the real kubectl (client-go) and curl,
/// so that tests of Rampart's client against it test against Kubernetes' rules, not against the stand-in's.
final class KubernetesStandInTests: XCTestCase {
    static let routes = "/apis/rampart.io/v1alpha1/namespaces/default/routes"

    func json(_ text: String) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
    }

    func metadata(_ object: [String: Any]) -> [String: Any] { (object["metadata"] as? [String: Any]) ?? [:] }
    func resourceVersion(_ object: [String: Any]) -> String { (metadata(object)["resourceVersion"] as? String) ?? "" }

    func routeJSON(_ name: String, hosts: [String] = ["api.example.com"], labels: [String: String] = [:],
                   resourceVersion: String? = nil, status: String? = nil) -> String {
        let labelText = labels.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
        let rv = resourceVersion.map { ",\"resourceVersion\":\"\($0)\"" } ?? ""
        let statusText = status.map { ",\"status\":\($0)" } ?? ""
        return """
        {"apiVersion":"rampart.io/v1alpha1","kind":"Route","metadata":{"name":"\(name)","labels":{\(labelText)}\(rv)},\
        "spec":{"hosts":[\(hosts.map { "\"\($0)\"" }.joined(separator: ","))],"paths":["/\(name)"],"upstreamRef":{"name":"orders"}}\(statusText)}
        """
    }

    @discardableResult
    func createRoute(_ api: KubernetesAPIStandIn, _ name: String, labels: [String: String] = [:]) -> [String: Any] {
        let answer = api.request(method: "POST", path: Self.routes, body: routeJSON(name, labels: labels))
        XCTAssertEqual(answer.status, 201, answer.body)
        return json(answer.body)
    }

    func readyStatus(_ value: String, generation: Int) -> String {
        """
        {"status":{"conditions":[{"type":"Ready","status":"\(value)","observedGeneration":\(generation),\
        "lastTransitionTime":"2026-01-01T00:00:00Z","reason":"Served","message":"served"}]}}
        """
    }

    // MARK: kubectl

    func testKubectlAppliesGetsWaitsForAndDeletesARoute() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        let example = PackagePaths.root.appendingPathComponent("examples/kinds/route.yaml").path
        let applied = api.kubectl(["apply", "--validate=false", "-f", example])
        XCTAssertEqual(applied.code, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("route.rampart.io/orders created"), applied.stdout)
        XCTAssertTrue(applied.stdout.contains("route.rampart.io/admin-console created"), applied.stdout)

        // Table output with the CRD's printer columns (kubectl asks for as=Table and prints what the server says).
        let table = api.kubectl(["get", "routes"])
        XCTAssertEqual(table.code, 0, table.stderr)
        let rows = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertEqual(rows.first, ["NAME", "HOSTS", "PATHS", "UPSTREAM", "READY", "AGE"], table.stdout)
        let orders = rows.first { $0.first == "orders" } ?? []
        XCTAssertEqual(Array(orders.prefix(4)), ["orders", "[\"api.example.com\",\"*.example.com\"]", "[\"/orders\",\"/orders/*\"]", "orders"],
                       table.stdout)
        XCTAssertEqual(rows.count, 4, "header and three routes: " + table.stdout)
        let allNamespaces = api.kubectl(["get", "rt", "-A"])
        XCTAssertTrue(allNamespaces.stdout.hasPrefix("NAMESPACE"), allNamespaces.stdout + allNamespaces.stderr)

        // -o json round trip: the server set uid, creationTimestamp, resourceVersion, generation; kept the spec.
        let got = json(api.kubectl(["get", "route", "orders", "-o", "json"]).stdout)
        let meta = metadata(got)
        XCTAssertEqual((got["spec"] as? [String: Any])?["hosts"] as? [String], ["api.example.com", "*.example.com"])
        XCTAssertEqual(meta["generation"] as? Int, 1)
        XCTAssertFalse((meta["uid"] as? String ?? "").isEmpty)
        XCTAssertNotNil(meta["creationTimestamp"] as? String)
        XCTAssertNil(got["status"])

        // A changed spec: generation 2. Applying the same again: unchanged, same resourceVersion.
        let changed = try String(contentsOfFile: example, encoding: .utf8).replacingOccurrences(of: "priority: 0\n", with: "priority: 5\n")
        let reapplied = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: changed)
        XCTAssertTrue(reapplied.stdout.contains("route.rampart.io/orders configured"), reapplied.stdout + reapplied.stderr)
        let afterSpec = json(api.kubectl(["get", "route", "orders", "-o", "json"]).stdout)
        XCTAssertEqual(metadata(afterSpec)["generation"] as? Int, 2)
        XCTAssertEqual((afterSpec["spec"] as? [String: Any])?["priority"] as? Int, 5)
        let same = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: changed)
        XCTAssertTrue(same.stdout.contains("route.rampart.io/orders unchanged"), same.stdout + same.stderr)
        XCTAssertEqual(resourceVersion(json(api.kubectl(["get", "route", "orders", "-o", "json"]).stdout)), resourceVersion(afterSpec))
        // A metadata-only change moves the resourceVersion but not the generation.
        XCTAssertEqual(api.kubectl(["label", "route", "orders", "team=shop"]).code, 0)
        let labelled = json(api.kubectl(["get", "route", "orders", "-o", "json"]).stdout)
        XCTAssertEqual(metadata(labelled)["generation"] as? Int, 2)
        XCTAssertNotEqual(resourceVersion(labelled), resourceVersion(afterSpec))

        // kubectl wait watches the object; the condition arrives through the status subresource.
        let wait = try api.startKubectl(["wait", "--for=condition=Ready", "route/orders", "--timeout=10s"])
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"), "kubectl wait opened a watch")
        let status = api.request(method: "PATCH", path: Self.routes + "/orders/status",
                                 body: readyStatus("True", generation: 2).replacingOccurrences(of: "{\"status\"", with: "{\"spec\":{\"priority\":77},\"status\""),
                                 contentType: "application/merge-patch+json")
        XCTAssertEqual(status.status, 200, status.body)
        XCTAssertTrue(Poll.until(timeout: 15) { !wait.process.isRunning }, "kubectl wait returned")
        XCTAssertEqual(wait.stop(), 0, wait.output)
        XCTAssertTrue(wait.output.contains("route.rampart.io/orders condition met"), wait.output)
        let ready = json(api.kubectl(["get", "route", "orders", "-o", "json"]).stdout)
        XCTAssertEqual((ready["spec"] as? [String: Any])?["priority"] as? Int, 5, "a status write ignores the spec")
        XCTAssertEqual(metadata(ready)["generation"] as? Int, 2)
        XCTAssertTrue(api.kubectl(["get", "route", "orders"]).stdout.contains(" True "), "READY column from the condition")

        // A write to the main resource ignores .status.
        let put = api.request(method: "PUT", path: Self.routes + "/orders",
                              body: routeJSON("orders", resourceVersion: resourceVersion(ready), status: "{\"conditions\":[]}"))
        XCTAssertEqual(put.status, 200, put.body)
        let conditions = ((json(put.body)["status"] as? [String: Any])?["conditions"] as? [[String: Any]]) ?? []
        XCTAssertEqual(conditions.first?["status"] as? String, "True", put.body)

        let deleted = api.kubectl(["delete", "route", "orders"])
        XCTAssertEqual(deleted.code, 0, deleted.stderr)
        XCTAssertTrue(deleted.stdout.contains("route.rampart.io \"orders\" deleted"), deleted.stdout)
        let gone = api.kubectl(["get", "route", "orders"])
        XCTAssertNotEqual(gone.code, 0)
        XCTAssertTrue(gone.stderr.contains("routes.rampart.io \"orders\" not found"), gone.stderr)
    }

    func testKubectlInstallsTheCRDsItselfWhenTheStandInStartsWithout() throws {
        let api = try KubernetesAPIStandIn(tls: true, crds: nil)
        let before = api.kubectl(["get", "routes"])
        XCTAssertNotEqual(before.code, 0, "no CRD, no kind: " + before.stdout)
        XCTAssertTrue(before.stderr.contains("the server doesn't have a resource type \"routes\""), before.stderr)
        let crds = api.kubectl(["apply", "--validate=false", "-f", PackagePaths.root.appendingPathComponent("manifests/crds").path])
        XCTAssertEqual(crds.code, 0, crds.stderr)
        XCTAssertTrue(crds.stdout.contains("customresourcedefinition.apiextensions.k8s.io/routes.rampart.io created"), crds.stdout)
        createRoute(api, "orders")
        let table = api.kubectl(["get", "routes"])
        XCTAssertEqual(table.code, 0, table.stderr)
        XCTAssertTrue(table.stdout.hasPrefix("NAME"), table.stdout)
        XCTAssertTrue(table.stdout.contains("UPSTREAM"), table.stdout)
        let upstreams = api.kubectl(["get", "upstreams"])
        XCTAssertTrue(upstreams.stdout.contains("No resources found") || upstreams.stderr.contains("No resources found"),
                      upstreams.stdout + upstreams.stderr)
    }

    // MARK: list and watch

    func testListPagesWithLimitAndContinueFromOneSnapshot() throws {
        let api = try KubernetesAPIStandIn()
        for index in 0..<7 { createRoute(api, "route-\(index)") }
        var names: [String] = []
        var token = ""
        var listVersions = Set<String>()
        var pages = 0
        repeat {
            let page = api.requestJSON(path: Self.routes + "?limit=3" + (token.isEmpty ? "" : "&continue=\(token)"))
            XCTAssertEqual(page.status, 200)
            let body = page.json ?? [:]
            XCTAssertEqual(body["kind"] as? String, "RouteList")
            listVersions.insert(resourceVersion(body))
            names += ((body["items"] as? [[String: Any]]) ?? []).compactMap { metadata($0)["name"] as? String }
            token = (metadata(body)["continue"] as? String) ?? ""
            if pages == 0 {
                XCTAssertEqual(metadata(body)["remainingItemCount"] as? Int, 4)
                // Changes between pages do not show: the continuation reads the first page's snapshot.
                createRoute(api, "route-late")
                XCTAssertEqual(api.request(method: "DELETE", path: Self.routes + "/route-6").status, 200)
            }
            pages += 1
        } while !token.isEmpty && pages < 10
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(names, (0..<7).map { "route-\($0)" })
        XCTAssertEqual(listVersions.count, 1, "every page carries the list's resourceVersion")

        // A continue token older than the compaction point is refused with 410.
        let first = api.requestJSON(path: Self.routes + "?limit=2").json ?? [:]
        createRoute(api, "after-the-list")
        api.compact()
        let expired = api.requestJSON(path: Self.routes + "?limit=2&continue=\((metadata(first)["continue"] as? String) ?? "")")
        XCTAssertEqual(expired.status, 410)
        XCTAssertEqual(expired.json?["reason"] as? String, "Expired")

        // kubectl follows continue tokens itself.
        let chunked = try KubernetesAPIStandIn(tls: true)
        for index in 0..<5 { createRoute(chunked, "r\(index)") }
        let listed = chunked.kubectl(["get", "routes", "--chunk-size=2", "-o", "name"])
        XCTAssertEqual(listed.stdout.split(separator: "\n").count, 5, listed.stdout + listed.stderr)
        XCTAssertEqual(chunked.calls().filter { $0.verb == "list" && $0.resource == "routes" }.count, 3)
    }

    func testWatchStreamsAddedModifiedDeletedAndBookmarksThenEndsCleanly() throws {
        let api = try KubernetesAPIStandIn(bookmarkInterval: 0.2)
        createRoute(api, "before")
        let listVersion = resourceVersion(api.requestJSON(path: Self.routes).json ?? [:])
        let stream = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(listVersion)&allowWatchBookmarks=true&timeoutSeconds=2")
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"))
        let created = createRoute(api, "orders")
        let patched = api.request(method: "PATCH", path: Self.routes + "/orders/status", body: readyStatus("True", generation: 1),
                                  contentType: "application/merge-patch+json")
        XCTAssertEqual(patched.status, 200)
        let deleted = api.request(method: "DELETE", path: Self.routes + "/orders")
        XCTAssertEqual(deleted.status, 200)
        XCTAssertEqual(stream.waitForExit(timeout: 15), 0, "the stream ends cleanly at timeoutSeconds")
        XCTAssertEqual(stream.status, 200)
        let events = stream.events
        let changes = events.filter { $0["type"] as? String != "BOOKMARK" }
        XCTAssertEqual(changes.map { $0["type"] as? String ?? "" }, ["ADDED", "MODIFIED", "DELETED"], stream.body)
        let versions = changes.map { resourceVersion(($0["object"] as? [String: Any]) ?? [:]) }
        XCTAssertEqual(versions, [resourceVersion(created), resourceVersion(json(patched.body)), resourceVersion(json(deleted.body))])
        let bookmarks = events.filter { $0["type"] as? String == "BOOKMARK" }
        XCTAssertFalse(bookmarks.isEmpty, stream.body)
        let lastBookmark = (bookmarks.last?["object"] as? [String: Any]) ?? [:]
        XCTAssertEqual(lastBookmark["kind"] as? String, "Route")
        XCTAssertEqual(resourceVersion(lastBookmark), versions.last, "the last bookmark is at the last change")
        XCTAssertEqual(stream.lines.last.map { json($0)["type"] as? String }, "BOOKMARK")

        // Resuming from the first event's version replays only what came after it: nothing lost, nothing twice.
        let resumed = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(versions[0])&timeoutSeconds=1")
        XCTAssertEqual(resumed.waitForExit(timeout: 15), 0)
        XCTAssertEqual(resumed.events.map { $0["type"] as? String ?? "" }, ["MODIFIED", "DELETED"])

        // A label-selector watch sees an object leave the selection as DELETED and enter it as ADDED.
        let selected = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(api.state().resourceVersion)"
            + "&labelSelector=tier%3Dedge&timeoutSeconds=2")
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"))
        createRoute(api, "edge", labels: ["tier": "edge"])
        XCTAssertEqual(api.request(method: "PATCH", path: Self.routes + "/edge", body: "{\"metadata\":{\"labels\":{\"tier\":\"core\"}}}",
                                   contentType: "application/merge-patch+json").status, 200)
        createRoute(api, "core", labels: ["tier": "core"])
        XCTAssertEqual(selected.waitForExit(timeout: 15), 0)
        XCTAssertEqual(selected.events.map { ($0["type"] as? String ?? "") + " " + ((metadata(($0["object"] as? [String: Any]) ?? [:])["name"] as? String) ?? "") },
                       ["ADDED edge", "DELETED edge"])
    }

    func testExpiredResourceVersionComesInBothShapes() throws {
        let api = try KubernetesAPIStandIn()
        createRoute(api, "orders")
        let old = api.state().resourceVersion
        createRoute(api, "other")
        api.compact()
        let path = Self.routes + "?watch=1&resourceVersion=\(old)&timeoutSeconds=5"

        let asStatus = api.requestJSON(path: path)
        XCTAssertEqual(asStatus.status, 410)
        XCTAssertEqual(asStatus.json?["kind"] as? String, "Status")
        XCTAssertEqual(asStatus.json?["reason"] as? String, "Expired")
        XCTAssertEqual(asStatus.json?["code"] as? Int, 410)

        api.setExpiredShape(.event)
        let asEvent = try api.startStream(path: path)
        XCTAssertEqual(asEvent.waitForExit(timeout: 15), 0, "an ERROR event ends the stream")
        XCTAssertEqual(asEvent.status, 200)
        XCTAssertEqual(asEvent.events.count, 1, asEvent.body)
        XCTAssertEqual(asEvent.events.first?["type"] as? String, "ERROR")
        let error = (asEvent.events.first?["object"] as? [String: Any]) ?? [:]
        XCTAssertEqual(error["code"] as? Int, 410)
        XCTAssertEqual(error["reason"] as? String, "Expired")

        api.setExpiredShape(.alternate)
        XCTAssertEqual(api.request(path: path).status, 410)
        let second = api.request(path: path)
        XCTAssertEqual(second.status, 200)
        XCTAssertTrue(second.body.contains("\"type\":\"ERROR\""), second.body)
        XCTAssertEqual(api.request(path: path).status, 410)

        // From the compaction point on, watching works; the list is the way back.
        let current = resourceVersion(api.requestJSON(path: Self.routes).json ?? [:])
        let fresh = api.request(path: Self.routes + "?watch=1&resourceVersion=\(current)&timeoutSeconds=1")
        XCTAssertEqual(fresh.status, 200)
        XCTAssertEqual(fresh.body, "")

        // An ERROR 410 injected mid-stream, after one event.
        api.watchFault(pathContaining: "routes", errorAfter: 1)
        let injected = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(current)&timeoutSeconds=10")
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"))
        createRoute(api, "third")
        XCTAssertEqual(injected.waitForExit(timeout: 15), 0)
        XCTAssertEqual(injected.events.map { $0["type"] as? String ?? "" }, ["ADDED", "ERROR"])
    }

    // MARK: writes

    func testOptimisticConcurrencyAndWriteErrorsAreKubernetesStatusObjects() throws {
        let api = try KubernetesAPIStandIn()
        let created = createRoute(api, "orders")
        let stale = resourceVersion(created)
        let again = api.requestJSON(method: "POST", path: Self.routes, body: routeJSON("orders"))
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(again.json?["reason"] as? String, "AlreadyExists")

        let update = api.requestJSON(method: "PUT", path: Self.routes + "/orders", body: routeJSON("orders", hosts: ["b.example"], resourceVersion: stale))
        XCTAssertEqual(update.status, 200)
        XCTAssertEqual(metadata(update.json ?? [:])["generation"] as? Int, 2)
        let conflict = api.requestJSON(method: "PUT", path: Self.routes + "/orders", body: routeJSON("orders", hosts: ["c.example"], resourceVersion: stale))
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(conflict.json?["reason"] as? String, "Conflict")
        XCTAssertEqual(conflict.json?["kind"] as? String, "Status")
        XCTAssertEqual(conflict.json?["status"] as? String, "Failure")
        let statusConflict = api.requestJSON(method: "PUT", path: Self.routes + "/orders/status",
                                             body: routeJSON("orders", resourceVersion: stale, status: "{\"conditions\":[]}"))
        XCTAssertEqual(statusConflict.status, 409)
        let patchConflict = api.requestJSON(method: "PATCH", path: Self.routes + "/orders",
                                            body: "{\"metadata\":{\"resourceVersion\":\"\(stale)\"},\"spec\":{\"priority\":3}}",
                                            contentType: "application/merge-patch+json")
        XCTAssertEqual(patchConflict.status, 409)
        let strategic = api.requestJSON(method: "PATCH", path: Self.routes + "/orders", body: "{\"spec\":{\"priority\":3}}",
                                        contentType: "application/strategic-merge-patch+json")
        XCTAssertEqual(strategic.status, 415, "custom resources take no strategic merge patch")
        let unconditional = api.requestJSON(method: "PUT", path: Self.routes + "/orders", body: routeJSON("orders"))
        XCTAssertEqual(unconditional.status, 422, "a custom resource update needs metadata.resourceVersion")
        let missing = api.requestJSON(path: Self.routes + "/nope")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.json?["reason"] as? String, "NotFound")
        XCTAssertEqual(missing.json?["message"] as? String, "routes.rampart.io \"nope\" not found")
        let badName = api.requestJSON(method: "POST", path: Self.routes, body: routeJSON("Not_A_Name"))
        XCTAssertEqual(badName.status, 422)
        let wrongNamespace = api.requestJSON(method: "POST", path: Self.routes,
                                             body: routeJSON("x").replacingOccurrences(of: "\"name\":\"x\"", with: "\"name\":\"x\",\"namespace\":\"other\""))
        XCTAssertEqual(wrongNamespace.status, 400)
        XCTAssertEqual(api.state().resourceVersion, resourceVersion(update.json ?? [:]), "no failed write moved the resourceVersion")
    }

    func testFinalizersHoldADeleteAndDryRunWritesNothing() throws {
        let api = try KubernetesAPIStandIn()
        let created = api.requestJSON(method: "POST", path: Self.routes, body: routeJSON("held").replacingOccurrences(
            of: "\"labels\":{}", with: "\"finalizers\":[\"rampart.io/cleanup\"]"))
        XCTAssertEqual(created.status, 201)
        let stream = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(resourceVersion(created.json ?? [:]))&timeoutSeconds=2")
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"))
        let deleting = api.requestJSON(method: "DELETE", path: Self.routes + "/held")
        XCTAssertEqual(deleting.status, 200)
        XCTAssertNotNil(metadata(deleting.json ?? [:])["deletionTimestamp"], "a finalizer holds the object, marked for deletion")
        XCTAssertEqual(api.request(path: Self.routes + "/held").status, 200)
        XCTAssertEqual(api.request(method: "PATCH", path: Self.routes + "/held", body: "{\"metadata\":{\"finalizers\":null}}",
                                   contentType: "application/merge-patch+json").status, 200)
        XCTAssertEqual(api.request(path: Self.routes + "/held").status, 404, "the last finalizer gone, the object goes")
        XCTAssertEqual(stream.waitForExit(timeout: 15), 0)
        XCTAssertEqual(stream.events.map { $0["type"] as? String ?? "" }, ["MODIFIED", "DELETED"])

        let before = api.state().resourceVersion
        let dry = api.requestJSON(method: "POST", path: Self.routes + "?dryRun=All", body: routeJSON("dry"))
        XCTAssertEqual(dry.status, 201)
        XCTAssertEqual(api.request(path: Self.routes + "/dry").status, 404)
        XCTAssertEqual(api.state().resourceVersion, before, "a dry run writes nothing")
    }

    func testSecretsServicesEndpointSlicesLeasesAndEvents() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        let secret = api.requestJSON(method: "POST", path: "/api/v1/namespaces/default/secrets", body: """
            {"apiVersion":"v1","kind":"Secret","metadata":{"name":"keys"},"data":{"a":"\(Data("one".utf8).base64EncodedString())"},\
            "stringData":{"b":"two"}}
            """)
        XCTAssertEqual(secret.status, 201)
        XCTAssertEqual(secret.json?["data"] as? [String: String], ["a": "b25l", "b": "dHdv"], "stringData is merged into data as base64")
        XCTAssertNil(secret.json?["stringData"])
        XCTAssertEqual(secret.json?["type"] as? String, "Opaque")
        let badBase64 = api.request(method: "POST", path: "/api/v1/namespaces/default/secrets",
                                    body: "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"bad\"},\"data\":{\"a\":\"%%%\"}}")
        XCTAssertEqual(badBase64.status, 400)
        // Built-in list items carry no kind/apiVersion (typed lists), and kubectl reads them.
        let secrets = api.requestJSON(path: "/api/v1/namespaces/default/secrets").json ?? [:]
        XCTAssertEqual(secrets["kind"] as? String, "SecretList")
        XCTAssertNil(((secrets["items"] as? [[String: Any]])?.first)?["kind"])
        XCTAssertTrue(api.kubectl(["get", "secrets"]).stdout.contains("keys"))
        // kubectl 1.32 sends built-in kinds as protobuf, which the stand-in refuses plainly (tests use JSON over
        // curl); Debian's kubectl 1.20 sends JSON, which it takes.
        let created = api.kubectl(["create", "secret", "generic", "p", "--from-literal=a=b"])
        if created.code == 0 {
            XCTAssertEqual(api.requestJSON(path: "/api/v1/namespaces/default/secrets/p").json?["data"] as? [String: String], ["a": "Yg=="])
        } else {
            XCTAssertTrue(created.stderr.contains("JSON only"), created.stderr)
        }

        XCTAssertEqual(api.request(method: "POST", path: "/api/v1/namespaces/default/services", body: """
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"orders"},"spec":{"ports":[{"name":"http","port":8080,"targetPort":9376}]}}
            """).status, 201)
        for (name, service) in [("orders-a", "orders"), ("orders-b", "orders"), ("billing-a", "billing")] {
            XCTAssertEqual(api.request(method: "POST", path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", body: """
                {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"\(name)",\
                "labels":{"kubernetes.io/service-name":"\(service)"}},"addressType":"IPv4","ports":[{"name":"http","port":9376}],\
                "endpoints":[{"addresses":["127.0.0.1"],"conditions":{"ready":true}}]}
                """).status, 201)
        }
        let slices = api.requestJSON(path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io/service-name%3Dorders")
        XCTAssertEqual(((slices.json?["items"] as? [[String: Any]]) ?? []).compactMap { metadata($0)["name"] as? String }, ["orders-a", "orders-b"])
        let service = api.requestJSON(path: "/api/v1/namespaces/default/services/orders").json ?? [:]
        XCTAssertEqual((((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]])?.first)?["targetPort"] as? Int, 9376)

        let leases = "/apis/coordination.k8s.io/v1/namespaces/rampart-system/leases"
        XCTAssertEqual(api.request(path: leases + "/rampart-leader").status, 404)
        let lease = api.requestJSON(method: "POST", path: leases, body: """
            {"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"rampart-leader"},"spec":{"holderIdentity":"a",\
            "leaseDurationSeconds":15,"acquireTime":"2026-01-01T00:00:00.000000Z","renewTime":"2026-01-01T00:00:10.123456Z","leaseTransitions":0}}
            """)
        XCTAssertEqual(lease.status, 201)
        XCTAssertEqual((lease.json?["spec"] as? [String: Any])?["renewTime"] as? String, "2026-01-01T00:00:10.123456Z", "MicroTime kept as sent")
        var taken = lease.json ?? [:]
        taken["spec"] = ["holderIdentity": "b", "leaseDurationSeconds": 15, "acquireTime": "2026-01-01T00:01:00.000000Z",
                         "renewTime": "2026-01-01T00:01:00.000000Z", "leaseTransitions": 1]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: taken), as: UTF8.self)
        XCTAssertEqual(api.request(method: "PUT", path: leases + "/rampart-leader", body: body).status, 200)
        XCTAssertEqual(api.request(method: "PUT", path: leases + "/rampart-leader", body: body).status, 409, "the second taker lost the race")

        let event = api.requestJSON(method: "POST", path: "/api/v1/namespaces/default/events", body: """
            {"apiVersion":"v1","kind":"Event","metadata":{"generateName":"orders."},"involvedObject":{"apiVersion":"rampart.io/v1alpha1",\
            "kind":"Route","name":"orders","namespace":"default"},"type":"Warning","reason":"Rejected","message":"spec.hosts[0]: bad"}
            """)
        XCTAssertEqual(event.status, 201)
        XCTAssertTrue((metadata(event.json ?? [:])["name"] as? String ?? "").hasPrefix("orders."))
    }

    func testCustomResourcesAreCheckedAgainstTheirCRDSchemaAsTheAPIServerDoes() throws {
        let api = try KubernetesAPIStandIn(tls: true, schemaValidation: .all)
        let wrongType = api.requestJSON(method: "POST", path: Self.routes, body: routeJSON("typed").replacingOccurrences(
            of: "\"hosts\":[\"api.example.com\"]", with: "\"hosts\":\"api.example.com\""))
        XCTAssertEqual(wrongType.status, 422)
        XCTAssertEqual(wrongType.json?["reason"] as? String, "Invalid")
        let causes = ((wrongType.json?["details"] as? [String: Any])?["causes"] as? [[String: Any]]) ?? []
        XCTAssertEqual(causes.compactMap { $0["field"] as? String }, ["spec.hosts"], String(describing: wrongType.json))
        let noPaths = api.request(method: "POST", path: Self.routes, body: routeJSON("nopaths").replacingOccurrences(of: "\"paths\":[\"/nopaths\"],", with: ""))
        XCTAssertEqual(noPaths.status, 422)
        XCTAssertTrue(noPaths.body.contains("spec.paths: Required value"), noPaths.body)

        // Unknown fields are dropped (with a warning), or refused with fieldValidation=Strict; defaults are filled in.
        let withExtras = routeJSON("extras").replacingOccurrences(of: "\"upstreamRef\"",
            with: "\"colour\":\"blue\",\"plugins\":{\"cors\":{\"allowOrigins\":[\"https://a.example\"]}},\"upstreamRef\"")
        XCTAssertEqual(api.request(method: "POST", path: Self.routes + "?fieldValidation=Strict", body: withExtras).status, 400)
        let pruned = api.requestJSON(method: "POST", path: Self.routes, body: withExtras)
        XCTAssertEqual(pruned.status, 201)
        let spec = (pruned.json?["spec"] as? [String: Any]) ?? [:]
        XCTAssertNil(spec["colour"])
        let cors = ((spec["plugins"] as? [String: Any])?["cors"] as? [String: Any]) ?? [:]
        XCTAssertEqual(cors["maxAge"] as? String, "5s", "the CRD default")
        XCTAssertEqual(cors["allowCredentials"] as? Bool, false)
        // (kubectl validates on the client from OpenAPI documents, which the stand-in does not serve: --validate=false.)
        let applied = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: withExtras.replacingOccurrences(of: "extras", with: "applied"))
        XCTAssertEqual(applied.code, 0, applied.stderr)
        XCTAssertNil((json(api.kubectl(["get", "route", "applied", "-o", "json"]).stdout)["spec"] as? [String: Any])?["colour"])

        // Conditions as the CRD defines them: status enum, date-time, one entry per type.
        createRoute(api, "orders")
        func statusPatch(_ conditions: String) -> (status: Int, body: String) {
            api.request(method: "PATCH", path: Self.routes + "/orders/status", body: "{\"status\":{\"conditions\":[\(conditions)]}}",
                        contentType: "application/merge-patch+json")
        }
        let lowercase = statusPatch("{\"type\":\"Ready\",\"status\":\"true\"}")
        XCTAssertEqual(lowercase.status, 422)
        XCTAssertTrue(lowercase.body.contains("status.conditions[0].status: Unsupported value: \\\"true\\\""), lowercase.body)
        let badTime = statusPatch("{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"yesterday\"}")
        XCTAssertEqual(badTime.status, 422)
        XCTAssertTrue(badTime.body.contains("status.conditions[0].lastTransitionTime"), badTime.body)
        let twice = statusPatch("{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"False\"}")
        XCTAssertEqual(twice.status, 422)
        XCTAssertTrue(twice.body.contains("status.conditions[1]: Duplicate value"), twice.body)
        XCTAssertEqual(statusPatch("{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}").status, 200)

        api.setSchemaValidation(.off)
        XCTAssertEqual(statusPatch("{\"type\":\"Ready\",\"status\":\"true\"}").status, 200, "switched off, the stand-in stores it")

        // By default only status writes are checked: fixtures may be ones a real server would refuse.
        let relaxed = try KubernetesAPIStandIn()
        XCTAssertEqual(relaxed.request(method: "POST", path: Self.routes, body: routeJSON("typed").replacingOccurrences(
            of: "\"hosts\":[\"api.example.com\"]", with: "\"hosts\":\"api.example.com\"")).status, 201)
        XCTAssertEqual(relaxed.request(method: "PATCH", path: Self.routes + "/typed/status",
                                       body: "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"true\"}]}}",
                                       contentType: "application/merge-patch+json").status, 422)
    }

    // MARK: auth

    func testBearerTokenIsRequiredAndBadTokensGet401() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        XCTAssertEqual(api.request(path: Self.routes).status, 200)
        for token in ["", "wrong-token", api.token + "x"] {
            let answer = api.request(path: Self.routes, token: token)
            XCTAssertEqual(answer.status, 401, "token \(token.debugDescription)")
            XCTAssertEqual(json(answer.body)["reason"] as? String, "Unauthorized")
        }
        XCTAssertEqual(api.request(path: "/api", token: "nope").status, 401, "discovery needs credentials too")
        // The scheme is case-insensitive; any other scheme, or an empty token, is not a credential.
        XCTAssertEqual(api.request(path: Self.routes, token: "", headers: ["Authorization: bearer \(api.token)"]).status, 200)
        for header in ["Authorization: Basic \(Data("a:\(api.token)".utf8).base64EncodedString())", "Authorization: Bearer ",
                       "Authorization: \(api.token)", "Authorization: Bearer \(api.token) extra"] {
            XCTAssertEqual(api.request(path: Self.routes, token: "", headers: [header]).status, 401, header)
        }
        let kubeconfig = api.dir + "/wrong-kubeconfig"
        try api.writeKubeconfig(to: kubeconfig, token: "wrong-token")
        let refused = api.kubectl(["get", "routes"], kubeconfig: kubeconfig)
        XCTAssertNotEqual(refused.code, 0)
        XCTAssertTrue(refused.stderr.contains("You must be logged in to the server"), refused.stderr)
        XCTAssertTrue(api.calls().allSatisfy { $0.user == "system:serviceaccount:rampart-system:rampart" }, "no refused call was recorded")

        // Over plain http kubectl sends no token: there the stand-in takes credential-less requests as anonymous,
        // but a wrong token is still refused.
        let plain = try KubernetesAPIStandIn()
        XCTAssertEqual(plain.kubectl(["get", "routes"]).code, 0)
        XCTAssertEqual(plain.calls().last?.user, "system:anonymous")
        XCTAssertEqual(plain.request(path: Self.routes, token: "wrong").status, 401)
    }

    func testServiceAccountFilesAuthenticateAsInACluster() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        let mount = api.dir + "/serviceaccount"
        try api.writeServiceAccount(to: mount)
        let token = try String(contentsOfFile: mount + "/token", encoding: .utf8)
        let host = api.inClusterEnvironment["KUBERNETES_SERVICE_HOST"] ?? "", port = api.inClusterEnvironment["KUBERNETES_SERVICE_PORT"] ?? ""
        let answer = try Command.run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", mount + "/ca.crt",
                                                       "-H", "Authorization: Bearer \(token)", "https://\(host):\(port)/api/v1/namespaces/"
                                                       + (try String(contentsOfFile: mount + "/namespace", encoding: .utf8)) + "/secrets"])
        XCTAssertEqual(answer.stdout, "200", answer.stderr)
        // A rotated token: the new one works once added, the old one until it is removed.
        api.addToken("rotated-token", user: "system:serviceaccount:rampart-system:rampart")
        try api.writeServiceAccount(to: mount, token: "rotated-token")
        XCTAssertEqual(api.request(path: "/api/v1/namespaces/rampart-system/secrets", token: "rotated-token").status, 200)
        XCTAssertEqual(api.request(path: "/api/v1/namespaces/rampart-system/secrets").status, 200)
        api.removeToken(api.token)
        XCTAssertEqual(api.request(path: "/api/v1/namespaces/rampart-system/secrets").status, 401)
    }

    func testClientCertificateAuthOverTLS() throws {
        let api = try KubernetesAPIStandIn(clientCA: true)
        let listed = api.kubectl(["get", "routes", "-o", "name"])
        XCTAssertEqual(listed.code, 0, listed.stderr)
        XCTAssertEqual(api.calls().last?.user, "client-one", "the certificate's CN is the user")
        XCTAssertEqual(api.request(path: Self.routes, token: "", clientCertificate: "client").status, 200)
        XCTAssertEqual(api.request(path: Self.routes, token: "").status, 401, "no certificate, no token")
        XCTAssertEqual(api.request(path: Self.routes, token: "", clientCertificate: "otherclient").status, 0,
                       "a certificate from another CA fails the handshake")
        let other = api.dir + "/other-kubeconfig"
        try api.writeKubeconfig(to: other, token: nil, clientCertificate: true, certificate: "otherclient")
        XCTAssertNotEqual(api.kubectl(["get", "routes"], kubeconfig: other).code, 0)
    }

    // MARK: faults and call recording

    func testFaultsOnDemand() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        api.failNext(2, status: 500, pathContaining: "/routes")
        XCTAssertEqual(api.request(path: Self.routes).status, 500)
        XCTAssertEqual(api.request(path: Self.routes).status, 500)
        XCTAssertEqual(api.request(path: Self.routes).status, 200)
        api.failNext(1, status: 429, pathContaining: "/routes", retryAfter: 1)
        let throttled = api.request(path: Self.routes, headers: [])
        XCTAssertEqual(throttled.status, 429)
        XCTAssertEqual(json(throttled.body)["reason"] as? String, "TooManyRequests")
        api.failNext(1, status: 429, pathContaining: "/routes", retryAfter: 1)
        let retried = api.kubectl(["get", "routes"])
        XCTAssertEqual(retried.code, 0, "client-go honours Retry-After and retries: " + retried.stderr)
        api.resetCalls()
        api.failNext(1, status: 500, pathContaining: "/routes/x")
        XCTAssertEqual(api.request(path: Self.routes + "/x").status, 500)
        XCTAssertEqual(api.calls().map(\.verb), ["get"], "a call that then failed was still made, and is recorded")

        // Dropped mid-stream: one event, then the connection is cut without the final chunk.
        let from = api.state().resourceVersion
        api.watchFault(pathContaining: "routes", dropAfter: 1)
        let dropped = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(from)&timeoutSeconds=10")
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"))
        createRoute(api, "a")
        createRoute(api, "b")
        let code = dropped.waitForExit(timeout: 15)
        XCTAssertNotNil(code)
        XCTAssertNotEqual(code, 0, "curl sees a truncated chunked body")
        XCTAssertEqual(dropped.events.count, 1, dropped.body)

        // Split lines: each event line arrives in several chunks, and joins back to the same events.
        api.watchFault(pathContaining: "routes", splitLines: 4)
        let split = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(from)&timeoutSeconds=1", raw: true)
        XCTAssertEqual(split.waitForExit(timeout: 15), 0)
        let framed = Array(split.body.utf8)
        var chunks: [String] = []
        var offset = 0
        while let lineEnd = framed[offset...].firstIndex(of: UInt8(ascii: "\r")),
              let size = Int(String(decoding: framed[offset..<lineEnd], as: UTF8.self), radix: 16), size > 0,
              lineEnd + 2 + size <= framed.count {
            chunks.append(String(decoding: framed[(lineEnd + 2)..<(lineEnd + 2 + size)], as: UTF8.self))
            offset = lineEnd + 2 + size + 2
        }
        XCTAssertGreaterThanOrEqual(chunks.count, 8, "two events, four chunks each: \(chunks.count)")
        XCTAssertFalse(chunks.first?.hasSuffix("\n") ?? true, "the first chunk ends inside a line")
        let joined = chunks.joined().split(separator: "\n").map { json(String($0))["type"] as? String ?? "" }
        XCTAssertEqual(joined, ["ADDED", "ADDED"])
    }

    func testWatchExtrasTableWatchInitialEventsHugeEventsAndClosedClients() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        createRoute(api, "orders")
        // kubectl get --watch asks for Table events and prints rows as they change.
        let watching = try api.startKubectl(["get", "routes", "--watch"])
        XCTAssertTrue(api.waitForWatches(pathContaining: "routes"))
        createRoute(api, "later")
        XCTAssertTrue(Poll.until(timeout: 10) { watching.output.contains("later") }, watching.output)
        watching.stop(grace: 1)
        XCTAssertTrue(watching.output.hasPrefix("NAME"), watching.output)
        XCTAssertTrue(Poll.until(timeout: 5) { api.state().watches.isEmpty }, "a watch whose client left is closed")

        // Streaming lists: the current objects, then a bookmark that marks the end of the initial events.
        let initial = try api.startStream(path: Self.routes + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
            + "&allowWatchBookmarks=true&timeoutSeconds=1")
        XCTAssertEqual(initial.waitForExit(timeout: 15), 0)
        let types = initial.events.map { $0["type"] as? String ?? "" }
        XCTAssertEqual(Array(types.prefix(3)), ["ADDED", "ADDED", "BOOKMARK"], initial.body)
        let end = metadata((initial.events.dropFirst(2).first?["object"] as? [String: Any]) ?? [:])
        XCTAssertEqual((end["annotations"] as? [String: String])?["k8s.io/initial-events-end"], "true")
        XCTAssertEqual(api.request(path: Self.routes + "?watch=1&sendInitialEvents=true").status, 422)

        // An event bigger than any client should take (16 MiB), on demand; writes stay under the 3 MiB request limit.
        api.watchFault(pathContaining: "routes", hugeEventBytes: 17 << 20)
        let huge = try api.startStream(path: Self.routes + "?watch=1&resourceVersion=\(api.state().resourceVersion)&timeoutSeconds=1")
        XCTAssertEqual(huge.waitForExit(timeout: 30), 0)
        XCTAssertGreaterThan(huge.lines.first?.utf8.count ?? 0, 17 << 20)
        let tooBig = api.request(method: "POST", path: Self.routes, body: routeJSON("big").replacingOccurrences(
            of: "\"labels\":{}", with: "\"annotations\":{\"pad\":\"\(String(repeating: "x", count: 3 << 20))\"}"))
        XCTAssertEqual(tooBig.status, 413)
        XCTAssertEqual(json(tooBig.body)["reason"] as? String, "RequestEntityTooLarge")
    }

    func testCallsAreRecordedInRBACTerms() throws {
        let api = try KubernetesAPIStandIn(tls: true)
        _ = api.kubectl(["get", "routes", "-n", "default"])
        createRoute(api, "orders")
        _ = api.request(method: "PATCH", path: Self.routes + "/orders/status", body: readyStatus("True", generation: 1),
                        contentType: "application/merge-patch+json")
        _ = api.request(path: "/apis/rampart.io/v1alpha1/routes?watch=1&timeoutSeconds=0")
        _ = api.request(path: "/apis/coordination.k8s.io/v1/namespaces/rampart-system/leases/rampart-leader")
        _ = api.request(method: "DELETE", path: Self.routes + "/orders")
        let user = "system:serviceaccount:rampart-system:rampart"
        XCTAssertEqual(api.calls(), [
            KubernetesCall(verb: "list", group: "rampart.io", version: "v1alpha1", resource: "routes", subresource: "", namespace: "default", name: "", user: user),
            KubernetesCall(verb: "create", group: "rampart.io", version: "v1alpha1", resource: "routes", subresource: "", namespace: "default", name: "", user: user),
            KubernetesCall(verb: "patch", group: "rampart.io", version: "v1alpha1", resource: "routes", subresource: "status", namespace: "default", name: "orders", user: user),
            KubernetesCall(verb: "watch", group: "rampart.io", version: "v1alpha1", resource: "routes", subresource: "", namespace: "", name: "", user: user),
            KubernetesCall(verb: "get", group: "coordination.k8s.io", version: "v1", resource: "leases", subresource: "", namespace: "rampart-system", name: "rampart-leader", user: user),
            KubernetesCall(verb: "delete", group: "rampart.io", version: "v1alpha1", resource: "routes", subresource: "", namespace: "default", name: "orders", user: user),
        ], "discovery is not recorded; every API call is, in order")
        api.resetCalls()
        XCTAssertEqual(api.calls(), [])
        // The raw record keeps exactly the documented keys.
        _ = api.request(path: "/api/v1/namespaces/default/secrets/x")
        let raw = api.request(path: "/_standin/calls", token: "")
        let entry = ((try? JSONSerialization.jsonObject(with: Data(raw.body.utf8))) as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(Set(entry.keys), ["verb", "group", "version", "resource", "subresource", "namespace", "name", "user"])
        XCTAssertEqual(entry["group"] as? String, "")
    }
}
