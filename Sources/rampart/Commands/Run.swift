import Foundation
import RampartController
import RampartGateway
import RampartModel
import RampartSources
import Synchronization

/// `rampart run`: the controller and the embedded gateway in one process.
enum RunCommand {
    static let help = """
    Usage: rampart run [PATH...] [flags]

    Watches manifests (files or directories, default ./manifests), reconciles them
    into one desired state and serves it on the embedded gateway, hot-reloading on
    every change. Every flag can also be set as RAMPART_<FLAG> (e.g. RAMPART_LISTEN).

    Flags:
      --listen ADDR            gateway listener (default 0.0.0.0:8080)
      --listen-tls ADDRS       TLS gateway listeners, comma-separated (certificates: SSL resources, by SNI)
      --admin ADDR             admin API listener (default 127.0.0.1:9180; 128 connections, 16 per client,
                               5 s to send a request head; wrong tokens past a budget get 429)
      --admin-tls MODE         auto (default: self-signed cert made once in the state dir) | off | CERT_FILE,KEY_FILE
      --admin-token-file FILE  PBKDF2 token hashes, one per line (rampart hash-password)
      --source KIND            dir (default) or git; kubernetes is not in this build
      --git-url URL            git source: repository URL (file://, https://, ssh)
      --git-ref REF            git source: branch or tag (default main)
      --git-path DIR           git source: manifests directory inside the repository
      --git-interval DURATION  git source: fetch interval (default 30s; \(Values.format(Bounds.gitInterval, as: .duration)))
      --gateway-group NAME     serve resources labelled rampart.io/gateway-group=NAME (default default)
      --state-dir DIR          state, audit log and admin token (default ./.rampart);
                               locked: one instance per state dir
      --workers N              gateway event loops (default: number of cores; \(Values.format(Bounds.workers, as: .count)))
      --log-format text|json   log format (default text)
      --log-level LEVEL        debug|info|warn|error (default info)
      --master-key-file FILE   encrypts the Keyring's own keys in state.json (32 random bytes, base64)
      --dev                    inline plaintext secrets without warnings
      --debounce DURATION      coalesce file events (default 50ms; \(Values.format(Bounds.debounce, as: .duration)))
      --allow-empty            apply an empty source (otherwise kept as a probable mistake)
      --drain-timeout DURATION finish in-flight requests on SIGTERM (default 30s; \(Values.format(Bounds.drainTimeout, as: .duration)))
      --max-header-bytes SIZE  request header limit (default 32Ki; \(Values.format(Bounds.maxHeaderBytes, as: .size)))
      --max-connections N      refuse connections past N (\(Values.format(Bounds.maxConnections, as: .count)))
      --access-log off|stdout|FILE   JSON access log (default off)
      --trusted-proxies CIDRS  whose X-Forwarded-For is believed
      --peers URLS             other instances (admin API base URLs) whose /healthz instanceOffline alerts probe
      --peers-ca FILE          CA bundle to verify https peers with (e.g. their admin-tls.crt; default: system store)
      --cgroup-root DIR        where cpuQuota/memoryQuota alerts read cgroup v2 files (default /sys/fs/cgroup)
      --help                   this text

    Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads the sources now.
    """

    static let flags: [String: Arguments.Kind] = [
        "listen": .value, "listen-tls": .value, "admin": .value, "admin-tls": .value, "admin-token-file": .value,
        "source": .value, "kubeconfig": .value, "namespace": .value, "git-url": .value, "git-ref": .value, "git-path": .value,
        "git-interval": .value, "gateway-group": .value, "state-dir": .value, "master-key-file": .value, "workers": .value,
        "log-format": .value, "log-level": .value, "leader-elect": .bool, "dev": .bool, "debounce": .value, "allow-empty": .bool,
        "drain-timeout": .value, "max-header-bytes": .value, "max-connections": .value, "access-log": .value,
        "trusted-proxies": .value, "peers": .value, "peers-ca": .value, "cgroup-root": .value, "help": .bool,
    ]

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do { a = try Arguments(args, spec: .init(flags: flags, env: true)) } catch {
            eprint("rampart run: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        do {
            return try serve(a)
        } catch {
            eprint("rampart run: \(error)")
            return Exit.usage
        }
    }

    struct UsageError: Error, CustomStringConvertible { var description: String }

    /// A duration, size or count flag, parsed and bounded by the same rules as manifest fields.
    static func quantity(_ a: Arguments, _ name: String, _ kind: QuantityKind, in range: ClosedRange<Int>) throws -> Int? {
        guard let s = a.string(name) else { return nil }
        switch Values.check(s, kind, in: range) {
        case .success(let v): return v
        case .failure(let e):
            throw UsageError(description: "--\(name): \(e) (allowed: \(Values.format(range, as: kind)))")
        }
    }

    static func serve(_ a: Arguments) throws -> Int32 {
        // Flags of the contract whose features are not in this build: refuse them rather than ignore them.
        let notYet = ["kubeconfig": "the Kubernetes source", "namespace": "the Kubernetes source", "leader-elect": "the Kubernetes source"]
        for (flag, feature) in notYet.sorted(by: { $0.key < $1.key }) where a.string(flag) != nil {
            throw UsageError(description: "--\(flag) comes with \(feature), which is not in this build yet")
        }
        let source = a.string("source") ?? "dir"
        guard source == "dir" || source == "git" else { throw UsageError(description: "--source \(source) is not in this build yet; use dir or git") }
        guard let level = Log.Level(name: a.string("log-level") ?? "info") else { throw UsageError(description: "--log-level: debug, info, warn or error") }
        let format = a.string("log-format") ?? "text"
        guard format == "text" || format == "json" else { throw UsageError(description: "--log-format: text or json") }
        let log = Log(json: format == "json", level: level)
        let workers = try quantity(a, "workers", .count, in: Bounds.workers)
            ?? min(max(1, ProcessInfo.processInfo.activeProcessorCount), Bounds.workers.upperBound)
        let maxHeader = try quantity(a, "max-header-bytes", .size, in: Bounds.maxHeaderBytes) ?? 32 * 1024
        let maxConnections = try quantity(a, "max-connections", .count, in: Bounds.maxConnections)
        let accessLog: AccessLogTarget
        switch a.string("access-log") ?? "off" {
        case "off": accessLog = .off
        case "stdout": accessLog = .stdout
        case let file: accessLog = .file(file)
        }
        let trusted = (a.string("trusted-proxies") ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for c in trusted where CIDR(c) == nil { throw UsageError(description: "--trusted-proxies: \"\(c)\" is not a CIDR") }
        let debounce = try quantity(a, "debounce", .duration, in: Bounds.debounce) ?? 50
        let drain = try quantity(a, "drain-timeout", .duration, in: Bounds.drainTimeout) ?? 30_000
        let stateDirPath = a.string("state-dir") ?? "./.rampart"
        let git: GitSource?
        if source == "git" {
            guard let url = a.string("git-url") else { throw UsageError(description: "--source git needs --git-url") }
            if !a.positionals.isEmpty { throw UsageError(description: "--source git takes no PATH; use --git-path") }
            git = GitSource(config: .init(url: url, ref: a.string("git-ref") ?? "main", path: a.string("git-path") ?? "",
                                          intervalMs: try quantity(a, "git-interval", .duration, in: Bounds.gitInterval) ?? 30_000, workDir: stateDirPath + "/git"),
                            log: { log.warn($0) })
        } else {
            git = nil
        }
        let paths = git.map { [$0.manifestsPath] } ?? (a.positionals.isEmpty ? ["./manifests"] : a.positionals)
        let listenTLS = (a.string("listen-tls") ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }

        let stateDir = try StateDir(stateDirPath)
        let stateLock = try StateDirLock(stateDir)
        let master = try SensitiveValues.loadMaster(path: a.string("master-key-file"))
        let adminTLS = try AdminTLS.load(mode: a.string("admin-tls") ?? "auto", stateDir: stateDir, log: log, master: master)
        let audit = try AuditLog(dir: stateDir)
        if let repaired = audit.repaired { log.warn("audit log repaired at start", ["path": stateDir.file(AuditLog.fileName), "repair": repaired]) }
        let metrics = ControlMetrics()
        let later = Later<Reconciler>()
        let secrets = SecretsBridge { ref in
            log.info("secret changed; reconciling", ["secretRef": ref])
            later.value?.trigger("secret \(ref) changed")
        }
        let values = SensitiveValues(master: master, lookup: secrets.lookup, digest: audit.digest)
        let gateway = try Gateway(config: GatewayConfig(
            listen: [a.string("listen") ?? "0.0.0.0:8080"], listenTLS: listenTLS, workers: workers, maxHeaderBytes: maxHeader,
            maxConnections: maxConnections, accessLog: accessLog, trustedProxies: trusted,
            log: { level, message, fields in
                let text = fields.isEmpty ? message : message + ": " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                switch level {
                case .debug: log.debug(text)
                case .info: log.info(text)
                case .warn: log.warn(text)
                case .error: log.error(text)
                }
            }))
        let reconciler = Reconciler(
            config: ControllerConfig(paths: paths, gatewayGroup: a.string("gateway-group") ?? "default",
                                     allowEmpty: a.flag("allow-empty"), dev: a.flag("dev"),
                                     origin: { git.flatMap { $0.currentCommit.map { "git:" + $0 } } ?? "dir" }),
            log: log, stateDir: stateDir, audit: audit, metrics: metrics, values: values,
            resolveValues: { state in
                secrets.sync(state, values: values)
                return secrets.resolvedValues(state, digest: audit.digest)
            },
            apply: { state in
                let secretProblems = secrets.sync(state, values: values)
                let out = SnapshotBuilder.build(state, resolve: values.resolver(for: state))
                for (k, w) in out.warnings.sorted(by: { $0.key < $1.key }) { log.warn("\(k): \(w)") }
                gateway.apply(out.snapshot)
                var notServed = out.notServed
                // What the gateway itself refused to compile is reported on the resource too.
                for (kind, refused) in [(Kind.ssl, gateway.rejectedCertificates), (Kind.route, gateway.rejectedRoutes)] {
                    for (name, reason) in refused {
                        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
                        if parts.count == 2 { notServed[ResourceKey(kind, parts[0], parts[1])] = reason }
                    }
                }
                return notServed.merging(secretProblems) { a, _ in a }
            })
        later.value = reconciler
        let alerts = try AlertsRuntime(peers: a.string("peers"), peersCA: a.string("peers-ca"), cgroupRoot: a.string("cgroup-root"), admin: a.string("admin") ?? "127.0.0.1:9180",
                                       adminTLS: adminTLS, reconciler: reconciler, gateway: gateway, metrics: metrics, secrets: secrets, log: log)
        let auth = try AdminAuth.load(tokenFile: a.string("admin-token-file"), stateDir: stateDir, log: log)
        let api = AdminAPI(reconciler: reconciler, auth: auth, secrets: secrets,
                           metrics: { gateway.metricsText() + metrics.text() + secrets.metricsText() },
                           unresolvedNodes: { gateway.unresolvedNodes() }, alerts: alerts, log: log)
        let admin = try AdminServer(listen: a.string("admin") ?? "127.0.0.1:9180", tls: adminTLS, handler: { api.handle($0) })

        try gateway.start()
        try admin.start()
        log.info("gateway listening", ["addresses": gateway.boundAddresses.joined(separator: ","), "workers": "\(workers)"])
        if !listenTLS.isEmpty { log.info("gateway TLS listening", ["addresses": gateway.boundTLSAddresses.joined(separator: ",")]) }
        log.info("admin API listening", ["address": admin.boundAddress, "scheme": adminTLS == nil ? "http" : "https"])
        reconciler.restoreFromStateFile()
        secrets.start()
        alerts.start()

        let watcher: DirectoryWatcher? = git == nil ? try DirectoryWatcher(paths: paths, debounceMs: debounce) { reconciler.trigger("files changed") } : nil
        watcher?.start()
        if let git {
            // The first sync happens on the git thread; until then state.json (if any) serves.
            git.start { sha in
                log.info("git: new commit", ["commit": sha])
                reconciler.trigger("git:" + sha)
            }
        } else {
            reconciler.reconcileNow("start")
        }

        let signals = SignalHandlers()
        signals.on(SIGHUP) {
            log.info("SIGHUP: re-reading sources and secrets")
            secrets.resolver.refreshAll()
            reconciler.trigger("SIGHUP", full: true)
        }
        let stop: @Sendable () -> Void = {
            log.info("stopping: draining in-flight requests", ["timeout": "\(drain)ms"])
            watcher?.stop()
            secrets.stop()
            alerts.stop()
            git?.stop()
            admin.stop()
            gateway.stop(drainTimeoutMs: drain)
            log.info("stopped")
            withExtendedLifetime(stateLock) { exit(Exit.ok) }
        }
        signals.on(SIGTERM, stop)
        signals.on(SIGINT, stop)
        dispatchMain()
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

/// Routes POSIX signals to handlers on a dispatch queue.
final class SignalHandlers: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "rampart.signals")

    func on(_ sig: Int32, _ handler: @escaping @Sendable () -> Void) {
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler(handler: handler)
        s.resume()
        sources.append(s)
    }
}
