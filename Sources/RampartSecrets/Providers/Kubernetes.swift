import Foundation
import RampartKubernetes
import Synchronization

/// The `kubernetes` provider: a `v1/Secret`'s `data` (base64) as an object value, its resourceVersion
/// as the version. Secrets are watched by the Kubernetes source, which asks the resolver to fetch a
/// changed Secret at once; `refreshInterval` is the fallback.
public struct KubernetesSecretProvider: SecretProvider {
    public let ref: String
    public let namespace: String
    public let secretName: String
    public var kind: String { "kubernetes" }

    /// The API client of `--source kubernetes` (or `--kubeconfig`); set once at start-up. Without it
    /// a `kubernetes` SecretRef reports that no Kubernetes API is configured.
    public static let client = Mutex<KubernetesClient?>(nil)

    public init(ref: String, namespace: String, secretName: String) {
        self.ref = ref
        self.namespace = namespace
        self.secretName = secretName
    }

    public func fetch() throws -> FetchedSecret {
        guard let client = Self.client.withLock({ $0 }) else {
            throw SecretError(.unsupported, ref: ref, "kubernetes: no Kubernetes API configured (run with --source kubernetes or --kubeconfig)")
        }
        let path = ResourceType.secret.objectPath(namespace: namespace, name: secretName)
        let object: [String: Any]
        do { object = try client.getObject(path) } catch let error as APIStatusError {
            throw SecretError(error.code == 404 ? .notFound : .provider, ref: ref, "kubernetes: Secret \(namespace)/\(secretName): \(error.reason) (\(error.code))")
        } catch {
            throw SecretError(.provider, ref: ref, "kubernetes: Secret \(namespace)/\(secretName): \(error)")
        }
        var fields: [String: String] = [:]
        for (key, value) in (object["data"] as? [String: Any]) ?? [:] {
            guard let encoded = value as? String, let bytes = Data(base64Encoded: encoded) else {
                throw SecretError(.provider, ref: ref, "kubernetes: Secret \(namespace)/\(secretName): data.\(key) is not base64")
            }
            fields[key] = String(decoding: bytes, as: UTF8.self)
        }
        let version = (object["metadata"] as? [String: Any])?["resourceVersion"] as? String
        return FetchedSecret(value: .object(fields, ref: ref), version: version)
    }
}
