import RampartModel

/// One unit a source replaces as a whole: a manifest file (directory, git) or one API object (Kubernetes).
///
/// A partition that cannot be parsed at all (`decoded.unreadable`) keeps the resources it gave last:
/// a typo never deletes what it hid.
public struct SourcePartition: Sendable {
    /// Stable within the source: the file's path, or `kind/namespace/name` of an API object.
    public var id: String
    /// What identifies this content without comparing it: a file's stat stamp, an object's resourceVersion.
    /// The same revision means the same content, so the store reuses what it derived from it.
    public var revision: String
    public var decoded: ManifestDecoder.Result

    public init(id: String, revision: String, decoded: ManifestDecoder.Result) {
        self.id = id
        self.revision = revision
        self.decoded = decoded
    }
}

/// What a source tells the store.
public enum SourceEvent: Sendable {
    /// A partition is new or changed.
    case upsert(SourcePartition)
    /// A partition is gone (file removed, object deleted).
    case delete(id: String)
    /// A full listing: every partition of the source; those not in it are gone.
    case replaceAll([SourcePartition])
    /// The source cannot be read now (path missing, API unreachable); what it gave last keeps serving.
    case failed(Diagnostic)
}

/// Where desired state comes from: a directory, a git repository, the Kubernetes API.
///
/// A source reads on its own schedule (inotify, a fetch interval, a watch stream) and pushes events
/// to the sink; the controller's store holds them and the reconciler turns them into one desired state.
public protocol Source: AnyObject, Sendable {
    /// `dir`, `git`, `kubernetes`: names the source in diagnostics and metrics.
    var name: String { get }
    /// What the source serves now, for the audit log's actor: `dir`, `git:<sha>`, `kubernetes`.
    var origin: String { get }
    /// Starts watching; events reach `sink` from the source's own thread.
    func start(sink: @escaping @Sendable ([SourceEvent]) -> Void) throws
    /// Reads everything now and pushes it before returning where the source can (start-up, SIGHUP);
    /// `full` drops caches so that every file is read again.
    func resync(full: Bool)
    func stop()
}
