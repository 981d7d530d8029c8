// libFuzzer target: manifest bytes → YAML nodes → resources → validation and cross-checks (RampartYAML,
// RampartModel/Decoding, RampartModel/Validation), as `rampart validate` and the reconciler run them.
// A resource that validates is written in canonical form, and that form decodes to the same canonical form.
import FuzzSupport
import RampartModel
import RampartYAML

private let file = "fuzz.yaml"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // A small node budget keeps each run fast; the limits are what is being exercised, not their size.
    let limits = Limits(maxBytes: 1 << 20, maxDepth: 64, maxNodes: 50_000, maxAliasNodes: 2_000)
    let decoder = ManifestDecoder(dev: size % 2 == 0, limits: limits)
    let result = decoder.decode(file: file, bytes: bytes)
    let keepSensitive: Canonical.SensitiveRenderer = { _, raw in raw }
    Fuzz.require(result.diagnostics.allSatisfy { $0.file == file }, "a finding names another file")
    if result.unreadable {
        Fuzz.require(result.resources.isEmpty, "resources from an unreadable file")
        return 0
    }
    let cross = CrossCheck.run(result.resources, rejected: result.rejectedOrigins)
    for diagnostic in cross.diagnostics { _ = diagnostic.description }
    for resource in result.resources.prefix(8) {
        let canonical = Canonical.yaml(resource, sensitive: keepSensitive)
        _ = Canonical.yaml(resource)
        let again = decoder.decode(file: file, bytes: Array(canonical.utf8))
        Fuzz.require(!again.unreadable, "the canonical form of \(resource.key) does not parse:\n\(canonical)")
        Fuzz.require(again.resources.count == 1 && again.resources.first?.key == resource.key,
                     "the canonical form of \(resource.key) does not validate: \(again.diagnostics)\n\(canonical)")
        if let second = again.resources.first {
            let canonicalAgain = Canonical.yaml(second, sensitive: keepSensitive)
            Fuzz.require(canonicalAgain == canonical, "canonical form is not stable:\n\(canonical)\n---\n\(canonicalAgain)")
        }
    }
    // Whatever parsed is emitted as YAML that parses back to as many documents. A lone empty document is
    // emitted as nothing (libyaml's implicit document start), which is harmless: nothing emits one on its own.
    if let documents = try? Parser(limits: limits).parse(bytes: bytes), !(documents.count == 1 && isEmpty(documents[0])) {
        let emitted = Emitter.emit(documents)
        let reparsed = try? Parser(limits: Limits(maxBytes: 16 << 20, maxDepth: 64, maxNodes: 2_000_000, maxAliasNodes: 2_000))
            .parse(bytes: Array(emitted.utf8))
        Fuzz.require(reparsed?.count == documents.count, "emitted YAML does not parse back:\n\(emitted)")
    }
    return 0
}

private func isEmpty(_ node: Node) -> Bool {
    if case .scalar(let scalar) = node.value { return scalar.text.isEmpty && scalar.style == .plain }
    return false
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
