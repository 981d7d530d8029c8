import Foundation
import RampartModel
import RampartYAML

/// A source of one SecretRef's value; `fetch` blocks (HTTP, file reads) and is called from the resolver.
public protocol SecretProvider: Sendable {
    /// The provider name as in `spec.provider` (vault, aws, env, file, kubernetes).
    var kind: String { get }
    func fetch() throws -> FetchedSecret
}

/// Resolves a `Sensitive` (an auth token, an AppRole secret id, ...) to its plaintext; supplied by the controller.
public typealias SensitiveResolver = @Sendable (Sensitive) throws -> String

/// Builds the provider a SecretRef's spec names.
public enum SecretProviders {
    /// The provider for `spec`; `ref` is "namespace/name" (for errors); `namespace` resolves nested secretRefs.
    public static func make(ref: String, namespace: String, spec: SecretRefSpec,
                            resolve: @escaping SensitiveResolver) throws -> any SecretProvider {
        try make(ref: ref, namespace: namespace, provider: spec.provider, config: spec.config, resolve: resolve)
    }

    /// The provider named `provider` configured by its block `config` (`spec.vault`, `spec.aws`, ...).
    public static func make(ref: String, namespace: String, provider: String, config cfg: Node?,
                            resolve: @escaping SensitiveResolver) throws -> any SecretProvider {
        func need() throws -> Node {
            guard let cfg else { throw SecretError(.config, ref: ref, "spec.\(provider) is missing") }
            return cfg
        }
        switch provider {
        case "env":
            guard let name = try need().string("name") else { throw SecretError(.config, ref: ref, "spec.env.name is missing") }
            return EnvProvider(ref: ref, name: name)
        case "file":
            guard let path = try need().string("path") else { throw SecretError(.config, ref: ref, "spec.file.path is missing") }
            return FileProvider(ref: ref, path: path)
        case "vault":
            return try VaultProvider(ref: ref, config: VaultConfig(node: need(), ref: ref, namespace: namespace), resolve: resolve)
        case "aws":
            return try AWSSecretsManagerProvider(ref: ref, config: AWSConfig(node: need(), ref: ref, namespace: namespace), resolve: resolve)
        case "kubernetes":
            let cfg = try need()
            guard let name = cfg.string("secretName") else { throw SecretError(.config, ref: ref, "spec.kubernetes.secretName is missing") }
            return KubernetesSecretProvider(ref: ref, namespace: cfg.string("namespace") ?? namespace, secretName: name)
        default:
            throw SecretError(.config, ref: ref, "unknown provider \"\(provider)\"")
        }
    }
}

extension Node {
    /// A scalar's text (any scalar type, as written).
    func string(_ key: String) -> String? {
        guard let s = self[key]?.scalar else { return nil }
        if case .null = self[key]?.resolved { return nil }
        return s.text
    }

    func integer(_ key: String) -> Int? {
        guard let n = self[key], case .int(let v) = n.resolved else { return nil }
        return Int(exactly: v)
    }

    func boolean(_ key: String) -> Bool? {
        guard let n = self[key], case .bool(let v) = n.resolved else { return nil }
        return v
    }

    /// A sensitive field (`{secretRef: ...}`, `{value: ...}`, `{encrypted: ...}`), decoded by the model.
    func sensitive(_ key: String, namespace: String) -> Sensitive? {
        Sensitive.decode(self[key], namespace: namespace)
    }
}
