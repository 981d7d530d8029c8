import Foundation
import RampartYAML

/// One request the Kubernetes API stand-in recorded (`GET /_standin/calls`), in the terms RBAC
/// authorizes: verb, API group ("" for core), resource and subresource, namespace, name, user.
public struct KubernetesAPICall: Codable, Sendable, Hashable, CustomStringConvertible {
    public var verb: String
    public var group: String
    public var version: String
    public var resource: String
    /// "" or e.g. "status".
    public var subresource: String
    /// "" for a cluster-scoped resource or a request across all namespaces.
    public var namespace: String
    /// "" for list, watch and create (the name of a created object is not known to the authorizer).
    public var name: String
    public var user: String

    public init(verb: String, group: String = "", version: String = "v1", resource: String, subresource: String = "",
                namespace: String = "", name: String = "", user: String = "") {
        self.verb = verb
        self.group = group
        self.version = version
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.user = user
    }

    enum CodingKeys: String, CodingKey {
        case verb, group, version, resource, subresource, namespace, name, user
    }

    // A key the stand-in leaves out (or sends as null) means "", as in the Kubernetes authorizer's attributes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field(_ key: CodingKeys) throws -> String { try c.decodeIfPresent(String.self, forKey: key) ?? "" }
        self.init(verb: try field(.verb), group: try field(.group), version: try field(.version), resource: try field(.resource),
                  subresource: try field(.subresource), namespace: try field(.namespace), name: try field(.name), user: try field(.user))
    }

    /// The list `GET /_standin/calls` answers.
    public static func list(json: Data) throws -> [KubernetesAPICall] {
        try JSONDecoder().decode([KubernetesAPICall].self, from: json)
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    public var combinedResource: String { subresource.isEmpty ? resource : resource + "/" + subresource }

    public var description: String {
        let groupPrefix = group.isEmpty ? "" : group + "/"
        let place = namespace.isEmpty ? "(cluster-wide)" : "namespace \(namespace)"
        return "\(verb) \(groupPrefix)\(combinedResource)\(name.isEmpty ? "" : " \(name)") in \(place)\(user.isEmpty ? "" : " as \(user)")"
    }
}

/// The Roles, ClusterRoles and bindings of an RBAC manifest (manifests/rbac.yaml), evaluated as the
/// API server's RBAC authorizer does, so a test can check recorded calls against exactly what is deployed.
public struct RBACPolicy: Sendable {
    /// One `rules[]` entry.
    public struct Rule: Sendable, Equatable {
        public var apiGroups: [String]
        public var resources: [String]
        public var verbs: [String]
        public var resourceNames: [String]
    }

    /// Who a binding grants to.
    public struct Subject: Sendable, Equatable {
        public var kind: String
        public var name: String
        public var namespace: String
    }

    /// A Role (namespaced) or ClusterRole.
    public struct Role: Sendable {
        public var kind: String
        public var name: String
        /// "" for a ClusterRole.
        public var namespace: String
        public var rules: [Rule]
    }

    /// A RoleBinding (namespaced) or ClusterRoleBinding.
    public struct Binding: Sendable {
        public var kind: String
        public var name: String
        /// "" for a ClusterRoleBinding.
        public var namespace: String
        public var roleKind: String
        public var roleName: String
        public var subjects: [Subject]
    }

    /// What a manifest file got wrong for this checker: which object and field, and why.
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    public private(set) var roles: [Role] = []
    public private(set) var bindings: [Binding] = []

    /// Reads every Role, ClusterRole, RoleBinding and ClusterRoleBinding in `yaml` (other kinds are skipped).
    public init(yaml: String, file: String = "<yaml>") throws {
        let documents: [Node]
        do {
            documents = try Parser().parse(yaml)
        } catch {
            throw LoadError(description: "\(file):\(error)")
        }
        for document in documents {
            guard document.mapping != nil, let kind = document["kind"]?.scalar?.text else { continue }
            let name = document["metadata"]?["name"]?.scalar?.text ?? ""
            let namespace = document["metadata"]?["namespace"]?.scalar?.text ?? ""
            let what = "\(file):\(document.mark.line): \(kind) \(namespace.isEmpty ? "" : namespace + "/")\(name)"
            if Self.rbacKinds.contains(kind) && document["apiVersion"]?.scalar?.text != "rbac.authorization.k8s.io/v1" {
                throw LoadError(description: "\(what): apiVersion must be rbac.authorization.k8s.io/v1")
            }
            switch kind {
            case "Role", "ClusterRole":
                if kind == "Role" && namespace.isEmpty { throw LoadError(description: "\(what): metadata.namespace is required for a Role") }
                let rules = try (document["rules"]?.sequence ?? []).enumerated().map { index, node in
                    try Self.rule(node, at: "\(what): rules[\(index)]")
                }
                roles.append(Role(kind: kind, name: name, namespace: kind == "Role" ? namespace : "", rules: rules))
            case "RoleBinding", "ClusterRoleBinding":
                if kind == "RoleBinding" && namespace.isEmpty { throw LoadError(description: "\(what): metadata.namespace is required for a RoleBinding") }
                guard let roleKind = document["roleRef"]?["kind"]?.scalar?.text, let roleName = document["roleRef"]?["name"]?.scalar?.text else {
                    throw LoadError(description: "\(what): roleRef.kind and roleRef.name are required")
                }
                if kind == "ClusterRoleBinding" && roleKind != "ClusterRole" {
                    throw LoadError(description: "\(what): roleRef.kind: a ClusterRoleBinding can only refer to a ClusterRole")
                }
                let subjects = (document["subjects"]?.sequence ?? []).map { node in
                    Subject(kind: node["kind"]?.scalar?.text ?? "", name: node["name"]?.scalar?.text ?? "",
                            namespace: node["namespace"]?.scalar?.text ?? "")
                }
                bindings.append(Binding(kind: kind, name: name, namespace: kind == "RoleBinding" ? namespace : "",
                                        roleKind: roleKind, roleName: roleName, subjects: subjects))
            default:
                continue
            }
        }
        // A binding to a role that is not in the file cannot be evaluated: say so rather than grant nothing quietly.
        for binding in bindings where role(for: binding) == nil {
            throw LoadError(description: "\(file): \(binding.kind) \(binding.name) refers to \(binding.roleKind) \(binding.roleName), which is not in the file")
        }
    }

    /// Reads an RBAC manifest file.
    public init(contentsOf path: String) throws {
        try self.init(yaml: try String(contentsOfFile: path, encoding: .utf8), file: path)
    }

    static let rbacKinds: Set<String> = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]

    static func rule(_ node: Node, at place: String) throws -> Rule {
        func strings(_ field: String) throws -> [String] {
            guard let value = node[field] else { return [] }
            guard let items = value.sequence else { throw LoadError(description: "\(place).\(field): must be a list") }
            return try items.map { item in
                guard let text = item.scalar?.text else { throw LoadError(description: "\(place).\(field): must be a list of strings") }
                return text
            }
        }
        let rule = Rule(apiGroups: try strings("apiGroups"), resources: try strings("resources"), verbs: try strings("verbs"),
                        resourceNames: try strings("resourceNames"))
        if rule.verbs.isEmpty { throw LoadError(description: "\(place).verbs: required") }
        return rule
    }

    /// The Kubernetes user name of a ServiceAccount.
    public static func serviceAccountUser(namespace: String, name: String) -> String {
        "system:serviceaccount:\(namespace):\(name)"
    }

    /// The user of the one ServiceAccount the file's bindings grant to, or nil if there are none or several.
    public var serviceAccountUser: String? {
        var users = Set<String>()
        for binding in bindings {
            for subject in binding.subjects where subject.kind == "ServiceAccount" {
                users.insert(Self.serviceAccountUser(namespace: subject.namespace.isEmpty ? binding.namespace : subject.namespace, name: subject.name))
            }
        }
        return users.count == 1 ? users.first : nil
    }

    func role(for binding: Binding) -> Role? {
        roles.first { role in
            role.kind == binding.roleKind && role.name == binding.roleName && (role.kind == "ClusterRole" || role.namespace == binding.namespace)
        }
    }

    /// Whether `subject` is `user` (or, for a Group, a group the API server puts `user` in).
    static func matches(_ subject: Subject, user: String, bindingNamespace: String) -> Bool {
        switch subject.kind {
        case "User":
            return subject.name == user
        case "ServiceAccount":
            // A RoleBinding's ServiceAccount subject without a namespace means the binding's own.
            let namespace = subject.namespace.isEmpty ? bindingNamespace : subject.namespace
            return serviceAccountUser(namespace: namespace, name: subject.name) == user
        case "Group":
            if subject.name == "system:authenticated" { return !user.isEmpty }
            let prefix = "system:serviceaccount:"
            guard user.hasPrefix(prefix) else { return false }
            let namespace = user.dropFirst(prefix.count).split(separator: ":", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return subject.name == "system:serviceaccounts" || subject.name == "system:serviceaccounts:\(namespace)"
        default:
            return false
        }
    }

    /// Whether `rule` covers `call`, by the RBAC authorizer's rule matching (`*` wildcards,
    /// `resource/subresource` and `*/subresource`, resourceNames only for requests that name an object).
    /// A rule of only `nonResourceURLs` has no resources, so it covers no resource request.
    static func covers(_ rule: Rule, _ call: KubernetesAPICall) -> Bool {
        guard rule.verbs.contains("*") || rule.verbs.contains(call.verb) else { return false }
        guard rule.apiGroups.contains("*") || rule.apiGroups.contains(call.group) else { return false }
        let resourceMatches = rule.resources.contains { ruleResource in
            ruleResource == "*" || ruleResource == call.combinedResource
                || (!call.subresource.isEmpty && ruleResource == "*/" + call.subresource)
        }
        guard resourceMatches else { return false }
        return rule.resourceNames.isEmpty || (!call.name.isEmpty && rule.resourceNames.contains(call.name))
    }

    /// Whether `binding` applies where `call` goes: a ClusterRoleBinding everywhere, a RoleBinding
    /// only to requests inside its namespace (never to cluster-scoped or all-namespace requests).
    static func inScope(_ binding: Binding, _ call: KubernetesAPICall) -> Bool {
        binding.kind == "ClusterRoleBinding" || (!call.namespace.isEmpty && call.namespace == binding.namespace)
    }

    /// Whether the API server would allow `call` for `user` under this file's RBAC.
    public func allows(_ call: KubernetesAPICall, asUser user: String) -> Bool {
        bindings.contains { binding in
            guard Self.inScope(binding, call),
                  binding.subjects.contains(where: { Self.matches($0, user: user, bindingNamespace: binding.namespace) }),
                  let role = role(for: binding) else { return false }
            return role.rules.contains { Self.covers($0, call) }
        }
    }

    /// Whether the API server would allow `call` for the file's one ServiceAccount (whatever user the
    /// stand-in recorded: check `call.user` apart if the test gives the controller that identity).
    public func allows(_ call: KubernetesAPICall) -> Bool {
        guard let user = serviceAccountUser else { return false }
        return allows(call, asUser: user)
    }

    /// The calls the file's ServiceAccount may not make.
    public func denied(_ calls: [KubernetesAPICall]) -> [KubernetesAPICall] {
        calls.filter { !allows($0) }
    }

    /// Each permission the file grants (binding, API group, resource, verb) that none of `calls` used:
    /// what least privilege says to drop, unless a test simply did not exercise it.
    public func unexercised(by calls: [KubernetesAPICall]) -> [String] {
        var unused: [String] = []
        for binding in bindings {
            guard let role = role(for: binding) else { continue }
            for rule in role.rules {
                for group in rule.apiGroups {
                    for resource in rule.resources {
                        for verb in rule.verbs {
                            let used = calls.contains { call in
                                Self.inScope(binding, call)
                                    && (group == "*" || group == call.group)
                                    && (resource == "*" || resource == call.combinedResource)
                                    && (verb == "*" || verb == call.verb)
                            }
                            if !used {
                                let groupPrefix = group.isEmpty ? "" : group + "/"
                                unused.append("\(binding.kind) \(binding.name): \(verb) \(groupPrefix)\(resource)")
                            }
                        }
                    }
                }
            }
        }
        return unused
    }
}
