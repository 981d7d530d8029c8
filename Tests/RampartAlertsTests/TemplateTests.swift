import Foundation
@testable import RampartModel
import XCTest

/// Message templates and the AlertRule / ContactPoint checks the Model adds for the engine.
final class TemplateTests: XCTestCase {
    func testRendering() throws {
        let t = try MessageTemplate("cert {{sni}} expires in {{ remaining }}; {{sni}}!")
        XCTAssertEqual(t.placeholders, ["sni", "remaining", "sni"])
        XCTAssertEqual(t.render(["sni": "a.example.com", "remaining": "3d"]), "cert a.example.com expires in 3d; a.example.com!")
        XCTAssertEqual(try MessageTemplate("no placeholders").render([:]), "no placeholders")
        XCTAssertEqual(try MessageTemplate("").render([:]), "")
        // A fact's value is inserted as text, never read as a template again.
        XCTAssertEqual(try MessageTemplate("{{error}}").render(["error": "{{sni}}"]), "{{sni}}")
    }

    func testBadTemplatesAreRefused() {
        for bad in ["{{sni", "{{}}", "{{ 1abc }}", "{{a-b}}", "{{a}}{{"] {
            XCTAssertThrowsError(try MessageTemplate(bad), bad)
        }
    }

    func errors(_ yaml: String) -> [String] {
        ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8)).diagnostics.filter { $0.severity == .error }.map(\.description)
    }

    static let rule = "apiVersion: rampart.io/v1alpha1\nkind: AlertRule\nmetadata: {name: a}\nspec:\n  contactPoints: [{name: ops}]\n"

    func testUnknownPlaceholderIsAnErrorNamingTheField() {
        let e = errors(Self.rule + "  condition: {type: certificateExpiry}\n  message: \"{{sni}} in {{remainig}}\"\n")
        XCTAssertEqual(e.count, 1)
        XCTAssertTrue(e[0].contains("spec.message: unknown placeholder {{remainig}} for condition certificateExpiry"), e[0])
        XCTAssertTrue(e[0].contains("t.yaml:7:"), "points at the message: \(e[0])")
        // A placeholder of another condition is unknown here too.
        XCTAssertEqual(errors(Self.rule + "  condition: {type: errorRate}\n  message: \"{{sni}}\"\n").count, 1)
        XCTAssertEqual(errors(Self.rule + "  condition: {type: errorRate}\n  message: \"{{route}}: {{percent}}% of {{requests}} over {{window}} ({{rule}}, {{severity}})\"\n"), [])
        XCTAssertTrue(errors(Self.rule + "  condition: {type: errorRate}\n  message: \"{{route\"\n").first?.contains("spec.message: \"{{\" without its closing") ?? false)
    }

    func testLabelNamesAndReservedLabels() {
        XCTAssertTrue(errors(Self.rule + "  condition: {type: reloadFailed}\n  labels: {\"team-a\": x}\n").first?.contains("spec.labels.team-a: not a label name") ?? false)
        XCTAssertTrue(errors(Self.rule + "  condition: {type: reloadFailed}\n  labels: {severity: low}\n").first?.contains("spec.labels.severity: reserved") ?? false)
        XCTAssertEqual(errors(Self.rule + "  condition: {type: reloadFailed}\n  labels: {team: payments, _x1: y}\n"), [])
    }

    func testContactPointHeaderNamesCannotInjectOrOverride() {
        let cp = "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: c}\nspec:\n  type: webhook\n  url: https://hooks.example/x\n  hmacSecret: {value: k}\n"
        XCTAssertTrue(errors(cp + "  headers: {\"X-A: 1\\r\\nX-Evil\": {value: v}}\n").first?.contains("is not a header name") ?? false)
        XCTAssertTrue(errors(cp + "  headers: {X-Rampart-Signature: {value: v}}\n").first?.contains("set by Rampart itself") ?? false)
        XCTAssertTrue(errors(cp + "  headers: {content-length: {value: \"0\"}}\n").first?.contains("set by Rampart itself") ?? false)
        XCTAssertEqual(errors(cp + "  headers: {Authorization: {value: Bearer x}}\n"), [])
    }

    func testThresholdParserIsShared() {
        XCTAssertEqual(try AlertConditionType.certificateExpiry.threshold("3d").get(), 3 * 86_400)
        XCTAssertEqual(try AlertConditionType.latency.threshold(nil).get(), 1)
        XCTAssertEqual(try AlertConditionType.errorRate.threshold("0.25").get(), 0.25)
        XCTAssertThrowsError(try AlertConditionType.errorRate.threshold("1.5").get())
        XCTAssertThrowsError(try AlertConditionType.cpuQuota.threshold("nan").get())
        XCTAssertThrowsError(try AlertConditionType.reloadFailed.threshold("99999999999999999999").get())
        XCTAssertTrue(errors(Self.rule + "  condition: {type: memoryQuota, threshold: \"101\"}\n").first?.contains("is not a percentage") ?? false)
    }
}
