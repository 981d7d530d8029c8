/// The accepted range of every duration (milliseconds) and size (bytes) in a manifest, of the few
/// counts checked outside a field table, and of `rampart run`'s numeric flags: the one table that
/// validation, the CRDs, the flags and the README's "Bounds" list read. Integer fields carry their
/// range in their `.integer(min:max:)` in `KindSchemas`.
public enum Bounds {
    static let second = 1000, minute = 60 * second, hour = 60 * minute, day = 24 * hour

    // Upstream (and Route) spec.timeout.connect / send / read.
    public static let upstreamTimeout = 1...hour
    public static let healthCheckInterval = 100...hour
    public static let healthCheckTimeout = 1...minute
    public static let keepaliveIdleTimeout = 1...hour
    public static let limitCountWindow = second...7 * day
    public static let limitCountCount = 1...1_000_000_000
    public static let corsMaxAge = 0...day
    public static let secretRefreshInterval = second...30 * day
    public static let alertWindow = second...7 * day
    public static let alertInterval = second...hour
    public static let alertFor = 0...7 * day
    public static let alertRepeatInterval = minute...30 * day
    public static let contactPointTimeout = 1...minute
    /// AlertRule `condition.threshold`, by condition type.
    public static let certificateExpiryThreshold = 0...3650 * day
    public static let instanceOfflineThreshold = second...30 * day
    public static let latencyThreshold = 1...hour
    public static let countThreshold = 0...1_000_000

    // `rampart run` flags.
    /// Up to an hour: a long debounce makes SIGHUP the only prompt reload.
    public static let debounce = 1...hour
    public static let drainTimeout = 0...hour
    public static let gitInterval = 100...day
    public static let maxHeaderBytes = 1024...(1 << 20)
    public static let maxConnections = 1...1_000_000
    public static let workers = 1...256

    /// No duration anywhere exceeds this: a deadline `now + duration` stays far from Int64.max.
    public static let longestDuration = 3650 * day
}
