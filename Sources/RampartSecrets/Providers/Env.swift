import Foundation

/// Reads a secret from an environment variable of the rampart process (re-read on every fetch).
public struct EnvProvider: SecretProvider {
    public let ref: String
    public let name: String
    public var kind: String { "env" }

    public init(ref: String, name: String) {
        self.ref = ref
        self.name = name
    }

    public func fetch() throws -> FetchedSecret {
        guard let v = ProcessInfo.processInfo.environment[name] else {
            throw SecretError(.notFound, ref: ref, "env: variable \(name) is not set")
        }
        return FetchedSecret(value: .parsing(v, ref: ref))
    }
}
