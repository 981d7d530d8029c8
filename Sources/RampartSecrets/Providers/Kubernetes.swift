/// The `kubernetes` provider: not available yet; it needs the kubernetes source's API client.
public struct KubernetesSecretProvider: SecretProvider {
    public let ref: String
    public var kind: String { "kubernetes" }

    public init(ref: String) { self.ref = ref }

    public func fetch() throws -> FetchedSecret {
        throw SecretError(.unsupported, ref: ref, "kubernetes: provider unsupported for now (needs the kubernetes source)")
    }
}
