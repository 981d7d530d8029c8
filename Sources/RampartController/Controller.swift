import Foundation
import RampartGateway
import RampartKubernetes
import RampartModel
import RampartSecrets
import RampartSources
import Synchronization

/// The control plane of one `rampart run`: sources → store → reconcile → secrets → compile → apply to
/// the gateway → persist → audit → status, plus the admin API. The executable only turns flags into
/// these options and components.
public final class Controller: Sendable {
    /// What the control plane needs from the command line.
    public struct Options: Sendable {
        public var reconcile: ControllerConfig
        public var stateDir: String
        public var masterKeyFile: String?
        /// `auto`, `off` or `CERT_FILE,KEY_FILE`.
        public var adminTLS: String
        public var adminListen: String
        public var adminTokenFile: String?
        /// Kubernetes: a Lease decides which replica writes status (and sends alerts); every replica serves.
        public var leaderElect: Bool
        /// This replica's name in Leases and Events: `POD_NAME`, else the hostname.
        public var identity: String
        /// `--peers`, `--peers-ca`, `--cgroup-root`.
        public var alerts: AlertsRuntime.Flags

        public init(reconcile: ControllerConfig, stateDir: String, masterKeyFile: String? = nil, adminTLS: String = "auto",
                    adminListen: String = "127.0.0.1:9180", adminTokenFile: String? = nil, leaderElect: Bool = false,
                    identity: String = instanceIdentity(), alerts: AlertsRuntime.Flags = .init()) {
            self.alerts = alerts
            self.leaderElect = leaderElect
            self.identity = identity
            self.reconcile = reconcile
            self.stateDir = stateDir
            self.masterKeyFile = masterKeyFile
            self.adminTLS = adminTLS
            self.adminListen = adminListen
            self.adminTokenFile = adminTokenFile
        }
    }

    public let reconciler: Reconciler
    public let secrets: SecretsBridge
    public let admin: AdminServer
    public let adminScheme: String
    public let alerts: AlertsRuntime
    /// Kubernetes: the other replicas' instance Leases, for `instanceOffline`.
    private let leaseHeartbeats: LeaseHeartbeats?
    private let gateway: Gateway
    private let stateLock: StateDirLock
    private let log: Log
    /// With a Kubernetes source: status write-back, the leader Lease and this instance's heartbeat Lease.
    private let kubernetes: (status: KubernetesStatus, elector: LeaderElector?, heartbeat: InstanceHeartbeat)?

    /// Locks the state dir (one instance per state dir), opens the audit log and builds every component;
    /// nothing listens or reads until `start`.
    public init(options: Options, sources: [any Source], gateway: Gateway, log: Log) throws {
        self.gateway = gateway
        self.log = log
        let stateDir = try StateDir(options.stateDir)
        stateLock = try StateDirLock(stateDir)
        let master = try SensitiveValues.loadMaster(path: options.masterKeyFile)
        let adminTLS = try AdminTLS.load(mode: options.adminTLS, stateDir: stateDir, log: log, master: master)
        adminScheme = adminTLS == nil ? "http" : "https"
        let audit = try AuditLog(dir: stateDir)
        if let repaired = audit.repaired { log.warn("audit log repaired at start", ["path": stateDir.file(AuditLog.fileName), "repair": repaired]) }
        let metrics = ControlMetrics()
        let later = Later<Reconciler>()
        let secrets = SecretsBridge { ref in
            log.info("secret changed; reconciling", ["secretRef": ref])
            later.value?.trigger("secret \(ref) changed")
        }
        self.secrets = secrets
        let values = SensitiveValues(master: master, lookup: secrets.lookup, digest: audit.digest)
        reconciler = Reconciler(
            config: options.reconcile, sources: sources, log: log, stateDir: stateDir, audit: audit, metrics: metrics, values: values,
            resolveValues: { state in
                secrets.sync(state, values: values)
                return secrets.resolvedValues(state, digest: audit.digest)
            },
            apply: { [routeMemo = SnapshotBuilder.RouteMemo()] state in
                Self.apply(state, to: gateway, secrets: secrets, values: values, log: log, memo: routeMemo)
            })
        later.value = reconciler
        let elected = Later<LeaderElector>(), leases = Later<LeaseHeartbeats>()
        alerts = try AlertsRuntime(flags: options.alerts, admin: options.adminListen, adminTLS: adminTLS, isLeader: { elected.value?.isLeader ?? true },
                                   heartbeats: { leases.value?.heartbeats() ?? [] },
                                   reconciler: reconciler, gateway: gateway, metrics: metrics, secrets: secrets, log: log)
        let auth = try AdminAuth.load(tokenFile: options.adminTokenFile, stateDir: stateDir, log: log)
        let api = AdminAPI(reconciler: reconciler, auth: auth, secrets: secrets,
                           metrics: { gateway.metricsText() + metrics.text() + secrets.metricsText() },
                           unresolvedNodes: { gateway.unresolvedNodes() }, alerts: alerts, log: log)
        admin = try AdminServer(listen: options.adminListen, tls: adminTLS, handler: { api.handle($0) })

        if let source = sources.lazy.compactMap({ $0 as? KubernetesSource }).first {
            let client = source.client
            KubernetesSecretProvider.client.withLock { $0 = client }
            source.onSecretChange { namespace, name in secrets.kubernetesSecretChanged(namespace: namespace, name: name) }
            let leaseNamespace = client.config.controllerNamespace()
            let elector = options.leaderElect
                ? LeaderElector(client: client, config: .init(namespace: leaseNamespace, identity: options.identity), log: { log.info($0) }) : nil
            elected.value = elector
            leases.value = LeaseHeartbeats(client: client, namespace: leaseNamespace, identity: options.identity, log: { log.warn($0) })
            let status = KubernetesStatus(client: client, source: source, identity: options.identity,
                                          isLeader: { elector?.isLeader ?? true }, log: log)
            status.attach(to: reconciler)
            kubernetes = (status, elector, InstanceHeartbeat(client: client, namespace: leaseNamespace, identity: options.identity))
        } else {
            kubernetes = nil
        }
        leaseHeartbeats = leases.value
    }

    /// Compiles one desired state and hands it to the gateway; returns every resource that is not
    /// served with why (secret resolution, snapshot build, and what the gateway itself refused).
    static func apply(_ state: DesiredState, to gateway: Gateway, secrets: SecretsBridge, values: SensitiveValues, log: Log,
                      memo: SnapshotBuilder.RouteMemo? = nil) -> [ResourceKey: String] {
        let secretProblems = secrets.sync(state, values: values)
        let out = SnapshotBuilder.build(state, resolve: values.resolver(for: state), memo: memo)
        for (key, warning) in out.warnings.sorted(by: { $0.key < $1.key }) { log.warn("\(key): \(warning)") }
        gateway.apply(out.snapshot)
        var notServed = out.notServed
        for (kind, refused) in [(Kind.ssl, gateway.rejectedCertificates), (Kind.route, gateway.rejectedRoutes)] {
            for (name, reason) in refused {
                let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
                if parts.count == 2 { notServed[ResourceKey(kind, parts[0], parts[1])] = reason }
            }
        }
        return notServed.merging(secretProblems) { first, _ in first }
    }

    /// Opens the admin API, serves `state.json` at once, then starts the secret refresher and the sources
    /// and reconciles what they hold.
    public func start() throws {
        try admin.start()
        log.info("admin API listening", ["address": admin.boundAddress, "scheme": adminScheme])
        reconciler.restoreFromStateFile()
        secrets.start()
        alerts.start()
        leaseHeartbeats?.start()
        if let kubernetes {
            kubernetes.heartbeat.start()
            kubernetes.elector?.start(
                onStartedLeading: { [reconciler, log] in
                    log.info("kubernetes: leading: writing status")
                    kubernetes.status.rewrite(reconciler.view)
                },
                onStoppedLeading: { [log] in log.warn("kubernetes: not leading any more: status writes stop") })
        }
        try reconciler.startSources()
        // Sources that can read now push their listing before this returns; a git source's first fetch runs on its own thread.
        for source in reconciler.sources { source.resync(full: false) }
        reconciler.reconcileNow("start")
    }

    /// SIGHUP: every secret fetched again and every source read again in full.
    public func reload() {
        secrets.resolver.refreshAll()
        reconciler.resyncSources(full: true)
    }

    /// Stops reading, then the admin API, then drains the gateway; the state dir lock goes with the process.
    public func stop(drainTimeoutMs: Int) {
        reconciler.stopSources()
        leaseHeartbeats?.stop()
        if let kubernetes {
            kubernetes.status.stop()
            kubernetes.elector?.stop(release: true)
            kubernetes.heartbeat.stop()
        }
        secrets.stop()
        alerts.stop()
        admin.stop()
        gateway.stop(drainTimeoutMs: drainTimeoutMs)
        withExtendedLifetime(stateLock) {}
    }
}

/// A value set after the closures that read it are made (breaks an init cycle).
final class Later<T: Sendable>: Sendable {
    private let box = Mutex<T?>(nil)
    var value: T? {
        get { box.withLock { $0 } }
        set { box.withLock { $0 = newValue } }
    }
}
