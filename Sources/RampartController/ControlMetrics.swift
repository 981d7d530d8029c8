import Foundation
import Synchronization

/// Control-plane metrics (reloads, generation, reconcile time); low rate, so a mutex is fine here.
public final class ControlMetrics: Sendable {
    struct State {
        var reloadsOK = 0
        var reloadsFailed = 0
        var reloadsAuditFailed = 0
        var generation = 0
        var lastReload: Double = 0
        var reconcileBuckets = [Int](repeating: 0, count: ControlMetrics.bounds.count)
        var reconcileCount = 0
        var reconcileSum: Double = 0
        var alertStates: [String: String] = [:]
    }

    static let bounds: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    private let state = Mutex(State())
    private let start = Date().timeIntervalSince1970

    public init() {}

    public func reload(ok: Bool, generation: Int) {
        state.withLock {
            if ok {
                $0.reloadsOK += 1
                $0.generation = generation
                $0.lastReload = Date().timeIntervalSince1970
            } else {
                $0.reloadsFailed += 1
            }
        }
    }

    /// Desired states that could not be applied (or recorded in the audit log), since start.
    public var failedReloads: Int { state.withLock { $0.reloadsFailed + $0.reloadsAuditFailed } }

    /// A change not applied because its audit entry could not be written.
    public func reloadRefusedByAudit() {
        state.withLock { $0.reloadsAuditFailed += 1 }
    }

    public func reconcile(seconds: Double) {
        state.withLock {
            $0.reconcileCount += 1
            $0.reconcileSum += seconds
            for (i, b) in ControlMetrics.bounds.enumerated() where seconds <= b { $0.reconcileBuckets[i] += 1 }
        }
    }

    /// Prometheus text for the control plane and the process.
    public func text() -> String {
        let s = state.withLock { $0 }
        var out = """
        # HELP rampart_config_reloads_total Desired-state applications by result.
        # TYPE rampart_config_reloads_total counter
        rampart_config_reloads_total{result="success"} \(s.reloadsOK)
        rampart_config_reloads_total{result="failure"} \(s.reloadsFailed)
        rampart_config_reloads_total{result="audit_failed"} \(s.reloadsAuditFailed)
        # HELP rampart_config_generation The serving generation.
        # TYPE rampart_config_generation gauge
        rampart_config_generation \(s.generation)
        # HELP rampart_config_last_reload_timestamp_seconds When the serving generation was applied.
        # TYPE rampart_config_last_reload_timestamp_seconds gauge
        rampart_config_last_reload_timestamp_seconds \(String(format: "%.3f", s.lastReload))
        # HELP rampart_reconcile_duration_seconds Time to reconcile the whole desired state.
        # TYPE rampart_reconcile_duration_seconds histogram

        """
        for (i, b) in ControlMetrics.bounds.enumerated() {
            out += "rampart_reconcile_duration_seconds_bucket{le=\"\(b)\"} \(s.reconcileBuckets[i])\n"
        }
        out += "rampart_reconcile_duration_seconds_bucket{le=\"+Inf\"} \(s.reconcileCount)\n"
        out += "rampart_reconcile_duration_seconds_sum \(String(format: "%.6f", s.reconcileSum))\n"
        out += "rampart_reconcile_duration_seconds_count \(s.reconcileCount)\n"
        out += ProcessMetrics.text(startTime: start)
        return out
    }
}

/// process_* metrics read from /proc.
enum ProcessMetrics {
    static func text(startTime: Double) -> String {
        var cpu = 0.0, rss = 0.0
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the command: state is field 3, utime 14, stime 15, rss 24 (1-based in proc(5)).
            let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 21, let ut = Double(fields[11]), let st = Double(fields[12]), let pages = Double(fields[21]) {
                cpu = (ut + st) / tick
                rss = pages * Double(sysconf(Int32(_SC_PAGESIZE)))
            }
        }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return """
        # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
        # TYPE process_cpu_seconds_total counter
        process_cpu_seconds_total \(String(format: "%.2f", cpu))
        # HELP process_resident_memory_bytes Resident memory size in bytes.
        # TYPE process_resident_memory_bytes gauge
        process_resident_memory_bytes \(Int(rss))
        # HELP process_open_fds Number of open file descriptors.
        # TYPE process_open_fds gauge
        process_open_fds \(fds)
        # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
        # TYPE process_start_time_seconds gauge
        process_start_time_seconds \(String(format: "%.3f", startTime))

        """
    }
}
