// RampartKubernetes: the Kubernetes API client of the controller, over libcurl (RampartHTTPClient).
//
// How the pieces fit (each type's doc comment has the details):
//
//     let config = try KubeConfig.resolve(kubeconfig: flag, context: contextFlag)   // --kubeconfig, KUBECONFIG, in cluster, ~/.kube/config
//     for warning in config.warnings { log(warning) }                               // insecure-skip-tls-verify
//     let client = KubernetesClient(config: config)                                 // JSON requests, Status errors (APIStatusError), retries
//
//     // One reflector per kind (and per namespace, or all namespaces):
//     let routes = ResourceType(group: "rampart.io", version: "v1alpha1", plural: "routes", kind: "Route")
//     let reflector = ListWatch(client: client, config: .init(path: routes.collectionPath(namespace: ns), kind: "Route"), log: log)
//     var cache = ObjectCache()                                                     // turns .replaced into adds/modifications/deletes
//     reflector.start { event in for change in cache.apply(event) { store.apply(change) } }
//
//     // Leader-only writes:
//     let elector = LeaderElector(client: client, config: .init(namespace: config.controllerNamespace()), log: log)
//     elector.start(onStartedLeading: { ... }, onStoppedLeading: { ... })
//     if elector.isLeader { try StatusWriter(client: client).update(routes, namespace:, name:, observedGeneration:, conditions:) }
//     if elector.isLeader { try events.warning(InvolvedObject(object.metadata), reason: "Invalid", message: error) }
//     InstanceHeartbeat(client: client, namespace: config.controllerNamespace()).start()
//
// Threads: ListWatch, LeaderElector and InstanceHeartbeat each run one thread of their own and call
// back on it; `stop()` cancels the transfer in flight and returns once the thread has ended.
// Secrets: the bearer token is a `SensitiveText` and is never logged or printed; a client key from
// a kubeconfig's `-data` field is handed to libcurl in memory and never written to disk.
