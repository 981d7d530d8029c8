import Foundation
import RampartController
import RampartCrypto
import RampartModel
import RampartSources

/// `rampart encrypt` and `rampart reencrypt`: ciphertext made and moved with the Keyring found in manifests.
enum EncryptCommand {
    static let help = """
    Usage: rampart encrypt PATH... --resource KIND/NAMESPACE/NAME --field FIELD
                           [--gateway-group NAME] [--master-key-file FILE]

    Reads a secret from standard input (one trailing newline is dropped) and prints
    an $enc:v2:KEYID:BASE64 value (AES-256-GCM) made with the primary key of the
    Keyring found in PATH, for use as {encrypted: "..."} in a manifest.

    The ciphertext is bound to the resource and the field it will live in, and
    decrypts nowhere else: copied into another resource (another name, namespace
    or kind) or another field, it is refused, so nobody who can write a manifest
    can have another resource's secret sent to a host of their choosing.
      --resource  the resource, e.g. SecretRef/default/vault or Route/shop/orders
                  (KIND/NAME means namespace "default")
      --field     the field, e.g. spec.vault.auth.token or
                  spec.plugins.key-auth.keys[0] (list positions do not count)

    Values made by older versions ($enc:v1:, bound to the field only) are refused
    in manifests: make them again with this command.
    """

    static let reencryptHelp = """
    Usage: rampart reencrypt PATH... --state-dir DIR [--gateway-group NAME] [--master-key-file FILE]

    Moves every ciphertext stored in DIR/state.json to the primary key of the
    Keyring found in PATH (atomically, audit-logged), and prints the number of
    values per key before and after; legacy $enc:v1: values (bound to the field
    only) are re-bound to the resource that holds them. $enc: values in the
    manifests under PATH that still use an older key, or are legacy, are listed:
    make them again with `rampart encrypt --resource ... --field ...`.
    A running instance does the same on POST /api/v1/keyring/reencrypt.
    """

    struct Failure: Error, CustomStringConvertible { var description: String }

    static func keyring(_ paths: [String], group: String, masterFile: String?) throws -> (Keyring, [Resource]) {
        let files = try ManifestFiles.collect(paths)
        // Legacy `$enc:v1:` values must not block the commands that re-make them: these only find the
        // Keyring here (and list stale values); nothing read is served or sent anywhere.
        let loaded = ManifestLoader(decoder: ManifestDecoder(dev: true, acceptsLegacyEncrypted: true)).load(files: files)
        if loaded.errorCount > 0 {
            throw Failure(description: "the manifests are invalid:\n" + loaded.diagnostics.filter { $0.severity == .error }.map(\.description).joined(separator: "\n"))
        }
        let resources = loaded.resources.filter { $0.metadata.gatewayGroup == group }
        let state = DesiredState(generation: 0, origin: "cli", resources: Dictionary(resources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }))
        let secrets = SecretsBridge { _ in }
        let values = SensitiveValues(master: try SensitiveValues.loadMaster(path: masterFile), lookup: secrets.lookup)
        secrets.sync(state, values: values)
        guard let ring = try values.keyring(for: state) else { throw Failure(description: "no Keyring for gateway group \"\(group)\" in \(paths.joined(separator: " "))") }
        return (ring, resources)
    }

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do {
            a = try Arguments(args, spec: .init(flags: ["field": .value, "resource": .value, "gateway-group": .value, "master-key-file": .value,
                                                        "help": .bool]))
        } catch {
            eprint("rampart encrypt: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        guard !a.positionals.isEmpty, let field = a.string("field"), let resourceText = a.string("resource") else {
            eprint("rampart encrypt: give PATH, --resource and --field\n\n\(help)")
            return Exit.usage
        }
        guard field.hasPrefix("spec.") else { eprint("rampart encrypt: --field is a path under spec, e.g. spec.hmacSecret"); return Exit.usage }
        let resource: ResourceKey
        do { resource = try parseResource(resourceText) } catch {
            eprint("rampart encrypt: \(error)")
            return Exit.usage
        }
        do {
            let (ring, _) = try keyring(a.positionals, group: a.string("gateway-group") ?? "default", masterFile: a.string("master-key-file"))
            var input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
            if input.last == UInt8(ascii: "\n") { input.removeLast() }
            if input.last == UInt8(ascii: "\r") { input.removeLast() }
            guard !input.isEmpty else { eprint("rampart encrypt: nothing on standard input"); return Exit.usage }
            print(try ring.encrypt(plaintext: input, binding: SensitiveValues.binding(resource, field)))
            return Exit.ok
        } catch {
            eprint("rampart encrypt: \(error)")
            return Exit.usage
        }
    }

    static func reencrypt(_ args: [String]) -> Int32 {
        let a: Arguments
        do { a = try Arguments(args, spec: .init(flags: ["state-dir": .value, "gateway-group": .value, "master-key-file": .value, "help": .bool])) } catch {
            eprint("rampart reencrypt: \(error)\n\n\(reencryptHelp)")
            return Exit.usage
        }
        if a.flag("help") { print(reencryptHelp); return Exit.ok }
        guard !a.positionals.isEmpty, let dir = a.string("state-dir") else { eprint("rampart reencrypt: give PATH and --state-dir\n\n\(reencryptHelp)"); return Exit.usage }
        do {
            let (ring, resources) = try keyring(a.positionals, group: a.string("gateway-group") ?? "default", masterFile: a.string("master-key-file"))
            let stateDir = try StateDir(dir)
            guard let bytes = stateDir.read(StateFile.name), let state = StateFile.load(stateDir: dir) else {
                throw Failure(description: "no readable \(dir)/\(StateFile.name)")
            }
            let before = SensitiveValues.ciphertextCounts(String(decoding: bytes, as: UTF8.self))
            let values = SensitiveValues(master: try SensitiveValues.loadMaster(path: a.string("master-key-file")), lookup: nil)
            let out = try StateFile.reencrypted(state, values: values, keyring: ring)
            try stateDir.writeAtomically(StateFile.name, out)
            let after = SensitiveValues.ciphertextCounts(String(decoding: out, as: UTF8.self))
            func show(_ c: [String: Int]) -> String { c.isEmpty ? "none" : c.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
            try AuditLog(dir: stateDir).append(.init(actor: "cli:reencrypt", action: "reencrypt", key: nil, generationFrom: state.generation,
                                                     generationTo: state.generation, diff: "before: \(show(before)); after: \(show(after))"))
            print("state.json values per key before: \(show(before))")
            print("state.json values per key after:  \(show(after))")
            var stale = 0
            for r in resources {
                guard let spec = r.specNode else { continue }
                SchemaWalker.sensitiveNodes(spec, KindSchemas.spec(r.kind), path: "spec") { path, node in
                    guard let enc = node["encrypted"], let value = try? EncryptedValue.parse(enc.scalar?.text ?? ""),
                          value.version == .v1 || (value.keyID != ring.primaryKeyID && value.keyID != SensitiveValues.masterKeyID) else { return }
                    stale += 1
                    let why = value.version == .v1 ? "is a legacy \(EncryptedValue.legacyPrefix) value (bound to the field only)" : "encrypted with key \"\(value.keyID)\""
                    eprint("\(r.origin.file):\(enc.mark): \(r.key): \(path): \(why); make it again with "
                               + "`rampart encrypt \(a.positionals.joined(separator: " ")) --resource \(r.key.kind.rawValue)/\(r.key.namespace)/\(r.key.name) --field \(path)`")
                }
            }
            return stale > 0 ? Exit.problem : Exit.ok
        } catch {
            eprint("rampart reencrypt: \(error)")
            return Exit.usage
        }
    }

    /// `KIND/NAMESPACE/NAME` or `KIND/NAME` (namespace `default`), with a known kind.
    static func parseResource(_ text: String) throws -> ResourceKey {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), !parts.contains(where: \.isEmpty) else {
            throw Failure(description: "--resource is KIND/NAMESPACE/NAME, e.g. SecretRef/default/vault (got \"\(text)\")")
        }
        guard let kind = Kind(rawValue: parts[0]) else {
            var msg = "--resource: unknown kind \"\(parts[0])\"; expected one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))"
            if let s = Suggest.closest(parts[0], among: Kind.allCases.map(\.rawValue)) { msg += "; did you mean \"\(s)\"?" }
            throw Failure(description: msg)
        }
        return parts.count == 3 ? ResourceKey(kind, parts[1], parts[2]) : ResourceKey(kind, "default", parts[1])
    }
}
