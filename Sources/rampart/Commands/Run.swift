import Foundation
import RampartController
import RampartGateway
import RampartKubernetes
import RampartModel
import RampartSources

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
      --source KIND            dir (default), git or kubernetes
      --kubeconfig FILE        kubernetes source: kubeconfig (default: KUBECONFIG, in cluster, ~/.kube/config)
      --context NAME           kubernetes source: kubeconfig context (default: current-context)
      --namespace NS           kubernetes source: watch one namespace (default: all namespaces)
      --leader-elect           kubernetes source: a Lease (in POD_NAMESPACE) picks the one replica that
                               writes status and sends alert notifications (a new leader re-sends what is
                               firing); every replica serves (identity: POD_NAME, else the hostname)
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
        "source": .value, "kubeconfig": .value, "context": .value, "namespace": .value, "git-url": .value, "git-ref": .value, "git-path": .value,
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
        let source = a.string("source") ?? "dir"
        guard ["dir", "git", "kubernetes"].contains(source) else { throw UsageError(description: "--source: dir, git or kubernetes") }
        for flag in ["kubeconfig", "context", "namespace", "leader-elect"] where source != "kubernetes" && a.string(flag) != nil {
            throw UsageError(description: "--\(flag) is for --source kubernetes")
        }
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
        let decoder = ManifestDecoder(dev: a.flag("dev"))
        let sourceImpl: any Source
        let paths: [String]
        if source == "git" {
            guard let url = a.string("git-url") else { throw UsageError(description: "--source git needs --git-url") }
            if !a.positionals.isEmpty { throw UsageError(description: "--source git takes no PATH; use --git-path") }
            let git = GitSource(config: .init(url: url, ref: a.string("git-ref") ?? "main", path: a.string("git-path") ?? "",
                                              intervalMs: try quantity(a, "git-interval", .duration, in: Bounds.gitInterval) ?? 30_000, workDir: stateDirPath + "/git"),
                                decoder: decoder, log: { log.warn($0) })
            paths = [git.manifestsPath]
            sourceImpl = git
        } else if source == "kubernetes" {
            if !a.positionals.isEmpty { throw UsageError(description: "--source kubernetes takes no PATH") }
            let namespace = a.string("namespace")
            // A namespace is a DNS label; anything else could add path segments to every request.
            if let namespace, !namespace.isEmpty, !isDNSLabel(namespace) {
                throw UsageError(description: "--namespace: \"\(namespace)\" is not a namespace name")
            }
            let config = try KubeConfig.resolve(kubeconfig: a.string("kubeconfig"), context: a.string("context"))
            for warning in config.warnings { log.warn("kubernetes: \(warning)") }
            paths = []
            sourceImpl = KubernetesSource(client: KubernetesClient(config: config), namespace: namespace.flatMap { $0.isEmpty ? nil : $0 },
                                          decoder: decoder, log: { log.info($0) })
            log.info("kubernetes source", ["server": config.server, "namespace": namespace ?? "(all)", "config": config.origin])
        } else {
            paths = a.positionals.isEmpty ? ["./manifests"] : a.positionals
            sourceImpl = DirectorySource(paths: paths, decoder: decoder, debounceMs: debounce)
        }
        let listenTLS = (a.string("listen-tls") ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }

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
        let controller = try Controller(
            options: .init(reconcile: ControllerConfig(paths: paths, gatewayGroup: a.string("gateway-group") ?? "default",
                                                       allowEmpty: a.flag("allow-empty"), dev: a.flag("dev")),
                           stateDir: stateDirPath, masterKeyFile: a.string("master-key-file"), adminTLS: a.string("admin-tls") ?? "auto",
                           adminListen: a.string("admin") ?? "127.0.0.1:9180", adminTokenFile: a.string("admin-token-file"),
                           leaderElect: a.flag("leader-elect"),
                           alerts: .init(peers: a.string("peers"), peersCA: a.string("peers-ca"), cgroupRoot: a.string("cgroup-root"))),
            sources: [sourceImpl], gateway: gateway, log: log)

        // The handlers are in place before anything starts, held until it has: a SIGTERM that comes
        // as soon as the instance is ready (a rollout) drains and exits 0 instead of killing it.
        let signals = SignalHandlers(held: true)
        signals.on(SIGHUP) {
            log.info("SIGHUP: re-reading sources and secrets")
            controller.reload()
        }
        let stop: @Sendable () -> Void = {
            log.info("stopping: draining in-flight requests", ["timeout": "\(drain)ms"])
            controller.stop(drainTimeoutMs: drain)
            log.info("stopped")
            exit(Exit.ok)
        }
        signals.on(SIGTERM, stop)
        signals.on(SIGINT, stop)

        try gateway.start()
        log.info("gateway listening", ["addresses": gateway.boundAddresses.joined(separator: ","), "workers": "\(workers)"])
        if !listenTLS.isEmpty { log.info("gateway TLS listening", ["addresses": gateway.boundTLSAddresses.joined(separator: ",")]) }
        try controller.start()

        signals.release()
        dispatchMain()
    }
}

/// Routes POSIX signals to handlers on a dispatch queue.
final class SignalHandlers: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "rampart.signals")
    private var held: Bool

    /// `held`: signals are taken from now on (no default action) but handled only after `release()`.
    init(held: Bool = false) {
        self.held = held
        if held { queue.suspend() }
    }

    func release() {
        guard held else { return }
        held = false
        queue.resume()
    }

    // libdispatch traps on releasing a suspended queue: a start that threw leaves through here.
    deinit { release() }

    func on(_ sig: Int32, _ handler: @escaping @Sendable () -> Void) {
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler(handler: handler)
        s.resume()
        sources.append(s)
    }
}
