import Foundation
import TestSupport
import XCTest

/// The RBAC checker itself (Tests/Support/RBACCheck.swift), and manifests/rbac.yaml through it:
/// what the controller needs is allowed, and what an attacker holding its token would try is not.
final class RBACCheckTests: XCTestCase {
    static let serviceAccount = "system:serviceaccount:rampart-system:rampart"

    func deployed() throws -> RBACPolicy {
        try RBACPolicy(contentsOf: PackagePaths.root.appendingPathComponent("manifests/rbac.yaml").path)
    }

    static let kinds = ["routes", "upstreams", "ssls", "keyrings", "secretrefs", "alertrules", "contactpoints"]

    /// Every call the Kubernetes source, status writer, leader election and providers make.
    static var controllerCalls: [KubernetesAPICall] {
        var calls: [KubernetesAPICall] = []
        for kind in kinds {
            calls.append(.init(verb: "list", group: "rampart.io", version: "v1alpha1", resource: kind))
            calls.append(.init(verb: "watch", group: "rampart.io", version: "v1alpha1", resource: kind))
            calls.append(.init(verb: "list", group: "rampart.io", version: "v1alpha1", resource: kind, namespace: "shop"))
            calls.append(.init(verb: "get", group: "rampart.io", version: "v1alpha1", resource: kind, namespace: "shop", name: "orders"))
            calls.append(.init(verb: "patch", group: "rampart.io", version: "v1alpha1", resource: kind, subresource: "status", namespace: "shop", name: "orders"))
            calls.append(.init(verb: "update", group: "rampart.io", version: "v1alpha1", resource: kind, subresource: "status", namespace: "default", name: "a"))
        }
        calls += [
            .init(verb: "create", resource: "events", namespace: "shop"),
            .init(verb: "patch", resource: "events", namespace: "shop", name: "orders.17f3"),
            .init(verb: "get", resource: "secrets", namespace: "shop", name: "redis"),
            .init(verb: "list", resource: "secrets"),
            .init(verb: "watch", resource: "secrets", namespace: "shop"),
            .init(verb: "get", resource: "services", namespace: "shop", name: "orders"),
            .init(verb: "list", resource: "services", namespace: "shop"),
            .init(verb: "watch", resource: "services"),
            .init(verb: "get", group: "discovery.k8s.io", resource: "endpointslices", namespace: "shop", name: "orders-abc12"),
            .init(verb: "list", group: "discovery.k8s.io", resource: "endpointslices", namespace: "shop"),
            .init(verb: "watch", group: "discovery.k8s.io", resource: "endpointslices"),
            .init(verb: "get", group: "coordination.k8s.io", resource: "leases", namespace: "rampart-system", name: "rampart-leader"),
            .init(verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: "rampart-system"),
            .init(verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "rampart-system", name: "rampart-instance-rampart-7d9f-abc12"),
            // instanceOffline: the other replicas' heartbeat Leases, in the controller's own namespace.
            .init(verb: "list", group: "coordination.k8s.io", resource: "leases", namespace: "rampart-system"),
        ]
        return calls
    }

    func testTheDeployedRBACAllowsEveryCallTheControllerMakes() throws {
        let policy = try deployed()
        XCTAssertEqual(policy.serviceAccountUser, Self.serviceAccount)
        XCTAssertEqual(policy.denied(Self.controllerCalls).map(\.description), [])
        // ...and grants nothing beyond those calls (least privilege, checked from the other side).
        XCTAssertEqual(policy.unexercised(by: Self.controllerCalls), [])
    }

    /// What someone holding the controller's token would try.
    func testTheDeployedRBACRefusesWritesOutsideStatusAndLeasesOutsideItsNamespace() throws {
        let policy = try deployed()
        let attacks: [KubernetesAPICall] = [
            // Change what is served: spec writes and deletes on the kinds themselves.
            .init(verb: "update", group: "rampart.io", version: "v1alpha1", resource: "routes", namespace: "shop", name: "orders"),
            .init(verb: "patch", group: "rampart.io", version: "v1alpha1", resource: "routes", namespace: "shop", name: "orders"),
            .init(verb: "create", group: "rampart.io", version: "v1alpha1", resource: "routes", namespace: "shop"),
            .init(verb: "delete", group: "rampart.io", version: "v1alpha1", resource: "upstreams", namespace: "shop", name: "orders"),
            .init(verb: "deletecollection", group: "rampart.io", version: "v1alpha1", resource: "routes", namespace: "shop"),
            // A status subresource of a kind that is not Rampart's.
            .init(verb: "patch", group: "apps", resource: "deployments", subresource: "status", namespace: "shop", name: "web"),
            .init(verb: "patch", group: "rampart.io", resource: "gateways", subresource: "status", namespace: "shop", name: "x"),
            // Secrets: read only.
            .init(verb: "create", resource: "secrets", namespace: "kube-system"),
            .init(verb: "update", resource: "secrets", namespace: "shop", name: "redis"),
            .init(verb: "delete", resource: "secrets", namespace: "shop", name: "redis"),
            // Workloads and tokens: nothing.
            .init(verb: "create", resource: "pods", namespace: "kube-system"),
            .init(verb: "create", resource: "serviceaccounts", subresource: "token", namespace: "kube-system", name: "default"),
            .init(verb: "get", resource: "configmaps", namespace: "kube-system", name: "kubeadm-config"),
            .init(verb: "patch", resource: "services", namespace: "shop", name: "orders"),
            .init(verb: "update", group: "discovery.k8s.io", resource: "endpointslices", namespace: "shop", name: "orders-abc"),
            // Leases: only in rampart-system, only get/list/create/update, never across namespaces.
            .init(verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system", name: "kube-controller-manager"),
            .init(verb: "get", group: "coordination.k8s.io", resource: "leases", namespace: "shop", name: "rampart-leader"),
            .init(verb: "list", group: "coordination.k8s.io", resource: "leases"),
            .init(verb: "list", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system"),
            .init(verb: "delete", group: "coordination.k8s.io", resource: "leases", namespace: "rampart-system", name: "rampart-leader"),
            // Events only in the core group; no reading them.
            .init(verb: "create", group: "events.k8s.io", resource: "events", namespace: "shop"),
            .init(verb: "list", resource: "events"),
            // RBAC itself: no escalation.
            .init(verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"),
            .init(verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles", name: "cluster-admin"),
            .init(verb: "escalate", group: "rbac.authorization.k8s.io", resource: "roles", namespace: "rampart-system", name: "rampart-leases"),
            .init(verb: "impersonate", resource: "users", name: "admin"),
            // The CRDs: no changing their schemas.
            .init(verb: "update", group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name: "routes.rampart.io"),
        ]
        XCTAssertEqual(attacks.filter { policy.allows($0) }.map(\.description), [])
    }

    func testAnotherUserGetsNothingFromTheseBindings() throws {
        let policy = try deployed()
        let list = KubernetesAPICall(verb: "list", group: "rampart.io", resource: "routes")
        XCTAssertTrue(policy.allows(list, asUser: Self.serviceAccount))
        XCTAssertFalse(policy.allows(list, asUser: "system:serviceaccount:default:default"))
        XCTAssertFalse(policy.allows(list, asUser: "system:serviceaccount:shop:rampart"), "same name, other namespace")
        XCTAssertFalse(policy.allows(list, asUser: "rampart"))
        XCTAssertFalse(policy.allows(list, asUser: ""))
    }

    // MARK: the checker's rule matching, on small policies

    static func policy(_ rules: String, roleKind: String = "ClusterRole", bindingKind: String = "ClusterRoleBinding",
                       bindingNamespace: String = "", subject: String = "{kind: ServiceAccount, name: bot, namespace: ops}") throws -> RBACPolicy {
        let roleNamespace = roleKind == "Role" ? "  namespace: ops\n" : ""
        let bindingNS = bindingNamespace.isEmpty ? "" : "  namespace: \(bindingNamespace)\n"
        return try RBACPolicy(yaml: """
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: bot, namespace: ops}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: \(roleKind)
            metadata:
              name: r
            \(roleNamespace)rules:
            \(rules)
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: \(bindingKind)
            metadata:
              name: b
            \(bindingNS)roleRef: {apiGroup: rbac.authorization.k8s.io, kind: \(roleKind), name: r}
            subjects: [\(subject)]
            """)
    }

    func testVerbsGroupsAndWildcards() throws {
        let policy = try Self.policy("""
              - {apiGroups: [""], resources: [pods], verbs: [get]}
              - {apiGroups: ["*"], resources: [widgets], verbs: ["*"]}
            """)
        XCTAssertTrue(policy.allows(.init(verb: "get", resource: "pods", namespace: "a", name: "p")))
        XCTAssertFalse(policy.allows(.init(verb: "list", resource: "pods")), "verb not listed")
        XCTAssertFalse(policy.allows(.init(verb: "get", group: "apps", resource: "pods", namespace: "a", name: "p")), "core group only")
        XCTAssertTrue(policy.allows(.init(verb: "delete", group: "example.com", resource: "widgets", namespace: "a", name: "w")))
        XCTAssertTrue(policy.allows(.init(verb: "watch", resource: "widgets")))
        XCTAssertFalse(policy.allows(.init(verb: "get", resource: "widgets", subresource: "status", namespace: "a", name: "w")),
                       "a resource does not grant its subresources")
    }

    func testSubresources() throws {
        let policy = try Self.policy("""
              - {apiGroups: [""], resources: [pods/log], verbs: [get]}
              - {apiGroups: [""], resources: ["*/status"], verbs: [patch]}
            """)
        XCTAssertTrue(policy.allows(.init(verb: "get", resource: "pods", subresource: "log", namespace: "a", name: "p")))
        XCTAssertFalse(policy.allows(.init(verb: "get", resource: "pods", namespace: "a", name: "p")), "a subresource does not grant the resource")
        XCTAssertFalse(policy.allows(.init(verb: "get", resource: "pods", subresource: "exec", namespace: "a", name: "p")))
        XCTAssertTrue(policy.allows(.init(verb: "patch", resource: "nodes", subresource: "status", name: "n1")))
        XCTAssertFalse(policy.allows(.init(verb: "patch", resource: "nodes", name: "n1")))
        XCTAssertFalse(policy.allows(.init(verb: "patch", resource: "status", name: "n1")), "*/status is not a resource named status")
    }

    func testResourceNamesOnlyMatchRequestsThatNameTheObject() throws {
        let policy = try Self.policy("""
              - {apiGroups: [""], resources: [configmaps], resourceNames: [settings], verbs: [get, update, list, create]}
            """)
        XCTAssertTrue(policy.allows(.init(verb: "get", resource: "configmaps", namespace: "a", name: "settings")))
        XCTAssertFalse(policy.allows(.init(verb: "get", resource: "configmaps", namespace: "a", name: "other")))
        XCTAssertFalse(policy.allows(.init(verb: "list", resource: "configmaps", namespace: "a")), "a list names no object")
        XCTAssertFalse(policy.allows(.init(verb: "create", resource: "configmaps", namespace: "a")), "a create names no object")
    }

    func testARoleBindingIsScopedToItsNamespace() throws {
        let viaRole = try Self.policy("  - {apiGroups: [\"\"], resources: [pods], verbs: [get, list]}",
                                      roleKind: "Role", bindingKind: "RoleBinding", bindingNamespace: "ops")
        XCTAssertTrue(viaRole.allows(.init(verb: "get", resource: "pods", namespace: "ops", name: "p")))
        XCTAssertTrue(viaRole.allows(.init(verb: "list", resource: "pods", namespace: "ops")))
        XCTAssertFalse(viaRole.allows(.init(verb: "get", resource: "pods", namespace: "other", name: "p")))
        XCTAssertFalse(viaRole.allows(.init(verb: "list", resource: "pods")), "a list across all namespaces needs a ClusterRoleBinding")
        XCTAssertFalse(viaRole.allows(.init(verb: "get", resource: "nodes", name: "n")), "cluster-scoped")

        // A RoleBinding to a ClusterRole grants its rules in the binding's namespace only.
        let viaClusterRole = try Self.policy("  - {apiGroups: [\"\"], resources: [pods], verbs: [get]}",
                                             roleKind: "ClusterRole", bindingKind: "RoleBinding", bindingNamespace: "ops")
        XCTAssertTrue(viaClusterRole.allows(.init(verb: "get", resource: "pods", namespace: "ops", name: "p")))
        XCTAssertFalse(viaClusterRole.allows(.init(verb: "get", resource: "pods", namespace: "kube-system", name: "p")))

        // A ClusterRoleBinding covers every namespace and the cluster scope.
        let cluster = try Self.policy("  - {apiGroups: [\"\"], resources: [pods], verbs: [get]}")
        XCTAssertTrue(cluster.allows(.init(verb: "get", resource: "pods", namespace: "kube-system", name: "p")))
    }

    func testSubjects() throws {
        let rules = "  - {apiGroups: [\"\"], resources: [pods], verbs: [get]}"
        let call = KubernetesAPICall(verb: "get", resource: "pods", namespace: "ops", name: "p")
        let group = try Self.policy(rules, subject: "{kind: Group, name: \"system:serviceaccounts:ops\"}")
        XCTAssertTrue(group.allows(call, asUser: "system:serviceaccount:ops:anyone"))
        XCTAssertFalse(group.allows(call, asUser: "system:serviceaccount:dev:anyone"))
        XCTAssertFalse(group.allows(call, asUser: "ops"))
        let user = try Self.policy(rules, subject: "{kind: User, name: alice}")
        XCTAssertTrue(user.allows(call, asUser: "alice"))
        XCTAssertFalse(user.allows(call, asUser: "system:serviceaccount:ops:alice"))
        XCTAssertNil(user.serviceAccountUser)
        XCTAssertFalse(user.allows(call), "no ServiceAccount is bound, so nothing is allowed for one")
        // A RoleBinding's ServiceAccount subject without a namespace is in the binding's namespace.
        let local = try Self.policy(rules, roleKind: "Role", bindingKind: "RoleBinding", bindingNamespace: "ops",
                                    subject: "{kind: ServiceAccount, name: bot}")
        XCTAssertEqual(local.serviceAccountUser, "system:serviceaccount:ops:bot")
        XCTAssertTrue(local.allows(call))
    }

    func testUnexercisedPermissionsAreListed() throws {
        let policy = try Self.policy("  - {apiGroups: [\"\"], resources: [pods, secrets], verbs: [get, delete]}")
        XCTAssertEqual(policy.unexercised(by: [.init(verb: "get", resource: "pods", namespace: "a", name: "p"),
                                               .init(verb: "delete", resource: "secrets", namespace: "a", name: "s")]),
                       ["ClusterRoleBinding b: delete pods", "ClusterRoleBinding b: get secrets"])
    }

    func testBrokenFilesAreRefusedWithTheObjectNamed() throws {
        XCTAssertThrowsError(try RBACPolicy(yaml: """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata: {name: b}
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: missing}
            subjects: [{kind: User, name: alice}]
            """)) { error in
            XCTAssertTrue("\(error)".contains("ClusterRole missing, which is not in the file"), "\(error)")
        }
        XCTAssertThrowsError(try RBACPolicy(yaml: """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata: {name: r}
            rules: []
            """)) { error in
            XCTAssertTrue("\(error)".contains("metadata.namespace is required for a Role"), "\(error)")
        }
        XCTAssertThrowsError(try RBACPolicy(yaml: """
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata: {name: r}
            rules: [{apiGroups: [""], resources: pods, verbs: [get]}]
            """)) { error in
            XCTAssertTrue("\(error)".contains("rules[0].resources: must be a list"), "\(error)")
        }
    }

    func testTheStandInsCallListDecodes() throws {
        let json = Data("""
            [{"verb":"patch","group":"rampart.io","version":"v1alpha1","resource":"routes","subresource":"status",
              "namespace":"shop","name":"orders","user":"system:serviceaccount:rampart-system:rampart"},
             {"verb":"list","group":"","version":"v1","resource":"secrets","namespace":null,"name":""}]
            """.utf8)
        let calls = try KubernetesAPICall.list(json: json)
        XCTAssertEqual(calls.count, 2)
        XCTAssertEqual(calls[0].combinedResource, "routes/status")
        XCTAssertEqual(calls[1].namespace, "")
        XCTAssertEqual(try deployed().denied(calls), [])
    }
}
