import Foundation
import XCTest
@testable import RampartModel
import RampartYAML

/// Every number a manifest or flag can carry is bounded, and nothing written can trap the parser.
final class BoundsTests: XCTestCase {
    func errors(_ yaml: String) -> [String] {
        ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8)).diagnostics.filter { $0.severity == .error }.map(\.description)
    }

    static let route = "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r, namespace: shop}\nspec:\n  paths: [/]\n  upstreamRef: {name: u}\n"
    static let inlineRoute = "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r, namespace: shop}\nspec:\n  paths: [/]\n"
    static let bareUpstream = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: u, namespace: shop}\nspec:\n"
    static let upstream = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: u, namespace: shop}\nspec:\n  nodes: [{host: 10.0.0.1, port: 80}]\n"
    static let secretRef = "apiVersion: rampart.io/v1alpha1\nkind: SecretRef\nmetadata: {name: s, namespace: shop}\nspec:\n  provider: env\n  env: {name: X}\n"
    static let alertRule = "apiVersion: rampart.io/v1alpha1\nkind: AlertRule\nmetadata: {name: a, namespace: shop}\nspec:\n  contactPoints: [{name: ops}]\n"
    static let contactPoint = "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: c, namespace: shop}\nspec:\n  type: webhook\n  url: https://hooks.example/x\n"
    static let ssl = "apiVersion: rampart.io/v1alpha1\nkind: SSL\nmetadata: {name: s, namespace: shop}\nspec:\n  type: client\n  certificate: {value: x}\n"

    /// The value that passed validation and then trapped every request and every restart.
    func testReproducedTimeoutIsRejectedWithFileLineAndField() {
        let errs = errors(Self.route + "  timeout: {read: 106751991167d25975807ms}\n")
        XCTAssertEqual(errs, ["t.yaml:7:19: error: Route shop/r: spec.timeout.read: \"106751991167d25975807ms\" exceeds the maximum 1h"])
    }

    func testDurationBoundsNameTheField() {
        let cases: [(String, String, String)] = [
            (Self.route, "  timeout: {read: 9223372036854775807ms}\n", "spec.timeout.read: \"9223372036854775807ms\" exceeds the maximum 1h"),
            (Self.route, "  timeout: {send: 123456789012345678901234567890s}\n", "spec.timeout.send: \"123456789012345678901234567890s\" exceeds the maximum 1h"),
            (Self.route, "  timeout: {connect: 0s}\n", "spec.timeout.connect: \"0s\" is below the minimum 1ms"),
            (Self.route, "  timeout: {connect: 0ms}\n", "spec.timeout.connect: \"0ms\" is below the minimum 1ms"),
            (Self.route, "  timeout: {read: \"-5s\"}\n", "spec.timeout.read: \"-5s\" is not a duration"),
            (Self.route, "  timeout: {read: \"+5s\"}\n", "spec.timeout.read: \"+5s\" is not a duration"),
            (Self.route, "  timeout: {read: 1h1m}\n", "spec.timeout.read: \"1h1m\" exceeds the maximum 1h"),
            (Self.route, "  timeout: {read: 1d1h1m1s1ms1ms}\n", "spec.timeout.read: \"1d1h1m1s1ms1ms\" is not a duration"),
            (Self.route, "  timeout: {read: 9999999999999ms}\n", "spec.timeout.read: \"9999999999999ms\" exceeds the maximum 1h"),
            (Self.route, "  plugins: {limit-count: {count: 5, window: 8d}}\n", "spec.plugins.limit-count.window: \"8d\" exceeds the maximum 7d"),
            (Self.route, "  plugins: {limit-count: {count: 5, window: 500ms}}\n", "spec.plugins.limit-count.window: \"500ms\" is below the minimum 1s"),
            (Self.route, "  plugins: {cors: {maxAge: 2d}}\n", "spec.plugins.cors.maxAge: \"2d\" exceeds the maximum 1d"),
            (Self.inlineRoute, "  upstream: {nodes: [{host: a.b, port: 1}], timeout: {read: 2h}}\n", "spec.upstream.timeout.read: \"2h\" exceeds the maximum 1h"),
            (Self.upstream, "  timeout: {connect: 61m}\n", "spec.timeout.connect: \"61m\" exceeds the maximum 1h"),
            (Self.upstream, "  healthCheck: {active: {interval: 50ms}}\n", "spec.healthCheck.active.interval: \"50ms\" is below the minimum 100ms"),
            (Self.upstream, "  healthCheck: {active: {interval: 2h}}\n", "spec.healthCheck.active.interval: \"2h\" exceeds the maximum 1h"),
            (Self.upstream, "  healthCheck: {active: {timeout: 2m}}\n", "spec.healthCheck.active.timeout: \"2m\" exceeds the maximum 1m"),
            (Self.upstream, "  keepalive: {idleTimeout: 106751991167d}\n", "spec.keepalive.idleTimeout: \"106751991167d\" exceeds the maximum 1h"),
            (Self.secretRef, "  refreshInterval: 31d\n", "spec.refreshInterval: \"31d\" exceeds the maximum 30d"),
            (Self.secretRef, "  refreshInterval: 10ms\n", "spec.refreshInterval: \"10ms\" is below the minimum 1s"),
            (Self.alertRule, "  condition: {type: reloadFailed, window: 8d}\n", "spec.condition.window: \"8d\" exceeds the maximum 7d"),
            (Self.alertRule, "  condition: {type: reloadFailed}\n  interval: 2h\n", "spec.interval: \"2h\" exceeds the maximum 1h"),
            (Self.alertRule, "  condition: {type: reloadFailed}\n  for: 8d\n", "spec.for: \"8d\" exceeds the maximum 7d"),
            (Self.alertRule, "  condition: {type: reloadFailed}\n  repeatInterval: 30s\n", "spec.repeatInterval: \"30s\" is below the minimum 1m"),
            (Self.alertRule, "  condition: {type: certificateExpiry, threshold: 3651d}\n", "spec.condition.threshold: \"3651d\" exceeds the maximum 3650d"),
            (Self.alertRule, "  condition: {type: latency, threshold: 2h}\n", "spec.condition.threshold: \"2h\" exceeds the maximum 1h"),
            (Self.alertRule, "  condition: {type: instanceOffline, threshold: 31d}\n", "spec.condition.threshold: \"31d\" exceeds the maximum 30d"),
            (Self.contactPoint, "  timeout: 2m\n", "spec.timeout: \"2m\" exceeds the maximum 1m"),
        ]
        for (head, body, want) in cases {
            let errs = errors(head + body)
            XCTAssertTrue(errs.contains { $0.contains(want) }, "\(body) → \(errs)")
        }
    }

    func testCountAndIntegerBoundsNameTheField() {
        let cases: [(String, String, String)] = [
            (Self.route, "  plugins: {limit-count: {count: 1000000001, window: 1m}}\n", "spec.plugins.limit-count.count: 1000000001 is out of range (1-1000000000)"),
            (Self.route, "  plugins: {limit-count: {count: 0, window: 1m}}\n", "spec.plugins.limit-count.count: 0 is out of range (1-1000000000)"),
            (Self.route, "  plugins: {limit-count: {count: -1, window: 1m}}\n", "spec.plugins.limit-count.count: -1 is out of range"),
            (Self.route, "  plugins: {limit-count: {count: 9223372036854775807, window: 1m}}\n", "spec.plugins.limit-count.count: 9223372036854775807 is out of range"),
            (Self.route, "  plugins: {limit-count: {count: 5, window: 1m, policy: redis, redis: {host: r.example, database: 16}}}\n",
             "spec.plugins.limit-count.redis.database: 16 is out of range (0-15)"),
            (Self.route, "  priority: 123456789012345678901234567890\n", "spec.priority: expected an integer"),
            (Self.route, "  priority: 1000001\n", "spec.priority: 1000001 is out of range (-1000000-1000000)"),
            (Self.upstream, "  retries: 11\n", "spec.retries: 11 is out of range (0-10)"),
            (Self.upstream, "  retries: -1\n", "spec.retries: -1 is out of range (0-10)"),
            (Self.upstream, "  keepalive: {maxIdle: 100001}\n", "spec.keepalive.maxIdle: 100001 is out of range"),
            (Self.upstream, "  healthCheck: {active: {healthyAfter: 0}}\n", "spec.healthCheck.active.healthyAfter: 0 is out of range (1-100)"),
            (Self.upstream, "  healthCheck: {active: {expectStatus: [600]}}\n", "spec.healthCheck.active.expectStatus[0]: 600 is out of range (100-599)"),
            (Self.upstream, "  healthCheck: {passive: {on: [99999999999999999999999]}}\n", "spec.healthCheck.passive.on[0]: \"99999999999999999999999\" is not a status code"),
            (Self.bareUpstream, "  nodes: [{host: 10.0.0.1, port: 80, weight: 10001}]\n", "spec.nodes[0].weight: 10001 is out of range (0-10000)"),
            (Self.bareUpstream, "  nodes: [{host: 10.0.0.1, port: 65536}]\n", "spec.nodes[0].port: 65536 is out of range (1-65535)"),
            (Self.ssl, "  clientAuth: {ca: {value: x}, depth: 11}\n", "spec.clientAuth.depth: 11 is out of range (1-10)"),
            (Self.alertRule, "  condition: {type: reloadFailed, threshold: 1000001}\n", "spec.condition.threshold: \"1000001\" exceeds the maximum 1000000"),
            (Self.alertRule, "  condition: {type: upstreamUnhealthy, threshold: -1}\n", "spec.condition.threshold: \"-1\" is not a whole number"),
            (Self.alertRule, "  condition: {type: upstreamUnhealthy, threshold: 123456789012345678901234567890}\n",
             "spec.condition.threshold: \"123456789012345678901234567890\" exceeds the maximum 1000000"),
        ]
        for (head, body, want) in cases {
            let errs = errors(head + body)
            XCTAssertTrue(errs.contains { $0.contains(want) }, "\(body) → \(errs)")
        }
    }

    func testBoundaryValuesAreAccepted() {
        for body in ["  timeout: {connect: 1ms, send: 1h, read: 59m59s999ms}\n",
                     "  plugins: {limit-count: {count: 1000000000, window: 7d}, cors: {maxAge: 0s}}\n"] {
            XCTAssertEqual(errors(Self.route + body), [], body)
        }
        XCTAssertEqual(errors(Self.alertRule + "  condition: {type: certificateExpiry, threshold: 3650d}\n  for: 0s\n  repeatInterval: 30d\n"), [])
    }

    /// A size field is refused with its name, the same way (no manifest field is a size yet; run flags are).
    func testSizeBoundsNameTheField() throws {
        let schema: Schema = .object([Field("maxBody", .string(.size(1024...(1 << 20))))])
        let cases: [(String, String)] = [
            ("99999999999Ti", "spec.maxBody: \"99999999999Ti\" is not a size"),
            ("99999999999Gi", "spec.maxBody: \"99999999999Gi\" exceeds the maximum 1Mi"),
            ("123456789012345678901234567890", "spec.maxBody: \"123456789012345678901234567890\" exceeds the maximum 1Mi"),
            ("2Mi", "spec.maxBody: \"2Mi\" exceeds the maximum 1Mi"),
            ("1023", "spec.maxBody: \"1023\" is below the minimum 1Ki"),
            ("-1Ki", "spec.maxBody: \"-1Ki\" is not a size"),
            ("+1Ki", "spec.maxBody: \"+1Ki\" is not a size"),
            ("Ki", "spec.maxBody: \"Ki\" is not a size"),
        ]
        for (text, want) in cases {
            let node = try XCTUnwrap(try Parser().parse("maxBody: \"\(text)\"\n").first)
            var checker = SchemaChecker(diags: Diagnostics(file: "t.yaml", resource: "Test shop/x"))
            checker.check(node, schema, path: "spec")
            let found = checker.diags.items.map(\.description)
            XCTAssertTrue(found.count == 1 && found[0].hasPrefix("t.yaml:1:10: error: Test shop/x: \(want)"), "\(text) → \(found)")
        }
    }

    func testParsersCapDigitsAndNeverOverflow() {
        XCTAssertEqual(Values.parse("106751991167d25975807ms", as: .duration), .value(Int.max))
        XCTAssertEqual(Values.parse("106751991167d25975808ms", as: .duration), .tooLarge)
        XCTAssertEqual(Values.parse("9223372036854775807ms", as: .duration), .tooLarge)
        XCTAssertEqual(Values.parse("999999999999d", as: .duration), .tooLarge)
        XCTAssertEqual(Values.parse(String(repeating: "9", count: 5000) + "s", as: .duration), .tooLarge)
        XCTAssertEqual(Values.parse(String(repeating: "9", count: 5000) + "x", as: .duration), .malformed)
        XCTAssertEqual(Values.parse("1d2h3m4s5ms", as: .duration), .value(93_784_005))
        XCTAssertEqual(Values.parse("99999999999Gi", as: .size), .tooLarge)
        XCTAssertEqual(Values.parse("99999999999Ti", as: .size), .malformed)
        XCTAssertEqual(Values.parse("2Gi", as: .size), .value(1 << 31))
        XCTAssertEqual(Values.parse("007", as: .count), .value(7))
        XCTAssertEqual(Values.parse("1e9", as: .count), .malformed)
        XCTAssertEqual(Values.parse("", as: .count), .malformed)
        XCTAssertEqual(Values.format(3_600_000, as: .duration), "1h")
        XCTAssertEqual(Values.format(5_400_000, as: .duration), "90m")
        XCTAssertEqual(Values.format(1500, as: .duration), "1500ms")
        XCTAssertEqual(Values.format(1 << 20, as: .size), "1Mi")
    }

    /// The CRD patterns never accept what the parser calls malformed nor refuse what it reads as a
    /// value, on random strings of the parser's alphabet (a string each side reads differently would
    /// pass one gate and not the other). Oversized numbers may go either way: both refuse them.
    func testCRDPatternsAgreeWithTheParsers() throws {
        var rng = SeededRandom(seed: 0x5eed)
        let alphabet = Array("0123456789msdhKiMGk+- ")
        for (kind, pattern) in [(QuantityKind.duration, CRDGenerator.durationPattern), (.size, CRDGenerator.sizePattern)] {
            let re = try NSRegularExpression(pattern: pattern)
            for round in 0..<20_000 {
                var text = String((0..<Int.random(in: 0...18, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
                if round % 4 == 0 { text = String(repeating: "1", count: Int.random(in: 10...14, using: &rng)) + (kind == .duration ? "ms" : "Ki") }
                if round % 4 == 1 {
                    let units = kind == .duration ? ["ms", "s", "m", "h", "d", "x", ""] : ["Ki", "Mi", "Gi", "k", "M", "G", "Ti", ""]
                    text = (0..<Int.random(in: 1...(kind == .duration ? 6 : 1), using: &rng)).map { _ in
                        String(Int.random(in: 0...Int.max, using: &rng)).prefix(Int.random(in: 1...13, using: &rng)) + units[Int.random(in: 0..<units.count, using: &rng)]
                    }.joined()
                }
                let matches = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
                switch Values.parse(text, as: kind) {
                case .value: XCTAssertTrue(matches, "\(kind) \"\(text)\" parses but the CRD pattern refuses it")
                case .malformed: XCTAssertFalse(matches, "\(kind) \"\(text)\" is malformed but the CRD pattern accepts it")
                case .tooLarge: break
                }
            }
        }
    }

    /// A future field without a bound fails here: every integer has a minimum and maximum, every
    /// duration and size a range, and int-or-string fields are only those KindRules bound.
    func testEveryNumericFieldOfEveryKindIsBounded() {
        var unbounded: [String] = []
        var intOrString: [String] = []
        func walk(_ schema: Schema, _ path: String) {
            switch schema {
            case .object(let fields): for f in fields { walk(f.schema, path.isEmpty ? f.name : "\(path).\(f.name)") }
            case .array(let item, _): walk(item, path + "[]")
            case .map(let value): walk(value, path + ".*")
            case .integer(let lo, let hi): if lo == nil || hi == nil { unbounded.append(path) }
            case .number(let lo, let hi): if lo == nil || hi == nil { unbounded.append(path) }
            case .string(.duration(let r)), .string(.size(let r)):
                if r.lowerBound < 0 || r.upperBound > Bounds.longestDuration { unbounded.append(path) }
            case .intOrString: intOrString.append(path)
            default: break
            }
        }
        for kind in Kind.allCases { walk(KindSchemas.spec(kind), "\(kind.rawValue).spec") }
        XCTAssertEqual(unbounded, [], "fields without a bound")
        XCTAssertEqual(Set(intOrString), ["Upstream.spec.healthCheck.passive.on[]", "Route.spec.upstream.healthCheck.passive.on[]",
                                          "AlertRule.spec.condition.threshold"], "int-or-string fields must be bounded in KindRules")
    }

    func testCRDsCarryEveryBound() throws {
        let docs = try Parser().parse(CRDGenerator.yaml())
        func spec(_ i: Int) -> Node? { docs[i]["spec"]?["versions"]?.sequence?.first?["schema"]?["openAPIV3Schema"]?["properties"]?["spec"] }
        let count = spec(0)?["properties"]?["plugins"]?["properties"]?["limit-count"]?["properties"]?["count"]
        XCTAssertEqual(count?["maximum"]?.resolved, .int(1_000_000_000))
        XCTAssertEqual(count?["minimum"]?.resolved, .int(1))
        let read = spec(0)?["properties"]?["timeout"]?["properties"]?["read"]
        XCTAssertEqual(read?["description"]?.scalar?.text, "upstream read timeout; a duration from 1ms to 1h")
        XCTAssertEqual(read?["pattern"]?.scalar?.text, "^([0-9]{1,12}(ms|s|m|h|d)){1,5}$")
        XCTAssertEqual(spec(1)?["properties"]?["retries"]?["maximum"]?.resolved, .int(10))
        XCTAssertEqual(spec(1)?["properties"]?["keepalive"]?["properties"]?["maxIdle"]?["maximum"]?.resolved, .int(100_000))

        // Every integer under a spec has both bounds; every duration pattern comes with its range.
        var missing: [String] = []
        func walk(_ n: Node, _ path: String) {
            if n["type"]?.scalar?.text == "integer", n["maximum"] == nil || n["minimum"] == nil { missing.append(path) }
            if n["pattern"]?.scalar?.text == CRDGenerator.durationPattern, !(n["description"]?.scalar?.text.contains("a duration from") ?? false) {
                missing.append(path)
            }
            for p in n.mapping ?? [] { walk(p.value, path + "." + (p.key.scalar?.text ?? "?")) }
        }
        for i in 0..<docs.count { if let s = spec(i) { walk(s, "crd[\(i)].spec") } }
        XCTAssertEqual(missing, [])
    }
}

/// A reproducible generator (splitmix64) so that a failing random case fails again.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension BoundsTests {
    /// The README's bounds table, generated from the schemas and `Bounds`, so the documentation cannot drift.
    static func boundsTable() -> String {
        var rows: [String] = []
        func walk(_ schema: Schema, _ kind: String, _ path: String) {
            switch schema {
            case .object(let fields):
                for f in fields where !(kind == "Route" && f.name == "upstream" && path == "spec") {  // same table as Upstream
                    walk(f.schema, kind, path + "." + f.name)
                }
            case .array(let item, _): walk(item, kind, path + "[]")
            case .map(let value): walk(value, kind, path + ".*")
            case .integer(let lo?, let hi?): rows.append("| \(kind) | `\(path)` | \(lo) to \(hi) |")
            case .string(.duration(let r)): rows.append("| \(kind) | `\(path)` | \(Values.format(r, as: .duration)) |")
            case .string(.size(let r)): rows.append("| \(kind) | `\(path)` | \(Values.format(r, as: .size)) |")
            default: break
            }
        }
        for kind in Kind.allCases { walk(KindSchemas.spec(kind), kind.rawValue, "spec") }
        rows += [
            "| AlertRule | `spec.condition.threshold` (certificateExpiry) | \(Values.format(Bounds.certificateExpiryThreshold, as: .duration)) |",
            "| AlertRule | `spec.condition.threshold` (instanceOffline) | \(Values.format(Bounds.instanceOfflineThreshold, as: .duration)) |",
            "| AlertRule | `spec.condition.threshold` (latency) | \(Values.format(Bounds.latencyThreshold, as: .duration)) |",
            "| AlertRule | `spec.condition.threshold` (counts) | \(Values.format(Bounds.countThreshold, as: .count)) |",
            "| `rampart run` | `--workers` | \(Values.format(Bounds.workers, as: .count)) |",
            "| `rampart run` | `--max-connections` | \(Values.format(Bounds.maxConnections, as: .count)) |",
            "| `rampart run` | `--max-header-bytes` | \(Values.format(Bounds.maxHeaderBytes, as: .size)) |",
            "| `rampart run` | `--debounce` | \(Values.format(Bounds.debounce, as: .duration)) |",
            "| `rampart run` | `--drain-timeout` | \(Values.format(Bounds.drainTimeout, as: .duration)) |",
            "| `rampart run` | `--git-interval` | \(Values.format(Bounds.gitInterval, as: .duration)) |",
        ]
        return (["| Kind | Field | Range |", "|---|---|---|"] + rows).joined(separator: "\n")
    }

    func testREADMEListsEveryBound() throws {
        let readme = try String(contentsOfFile: ValidationTests.repo + "/README.md", encoding: .utf8)
        let table = Self.boundsTable()
        XCTAssertTrue(readme.contains("<!-- bounds:begin -->\n" + table + "\n<!-- bounds:end -->"), "README.md's bounds table is stale; it should be:\n" + table)
    }
}
