// libFuzzer target: a Kubernetes watch stream as a hostile API server sends it (RampartKubernetes:
// LineSplitter, WatchLine, KubeObject). Input byte 0 picks the read sizes, so a mutation moves where
// lines are cut; the rest is the stream. Properties: memory held stays under the line limit, the same
// lines come out whatever the cuts, and a decoded object's JSON reads back to the same metadata.
import FuzzSupport
import RampartKubernetes

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let step = Int(data[0] % 31) + 1
    let stream = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let limit = 4096
    let whole = lines(stream, step: stream.count + 1, limit: limit)
    let cut = lines(stream, step: step, limit: limit)
    Fuzz.require(whole == cut, "reads of \(step) bytes cut the stream into other lines")
    for line in cut.lines {
        switch WatchLine.decode(line, maxBytes: limit) {
        case .event(_, let object):
            guard let again = try? KubeObject(json: try object.json()) else {
                Fuzz.require(false, "a decoded object's JSON does not read back")
                continue
            }
            Fuzz.require(again.metadata == object.metadata, "metadata changed through raw JSON")
            Fuzz.require(!object.metadata.name.isEmpty, "an object without a name was accepted")
        case .bookmark(let version):
            Fuzz.require(version.map { !$0.isEmpty } ?? true, "an empty bookmark version")
        case .expired, .invalid:
            break
        }
    }
    var cache = ObjectCache()
    for line in cut.lines {
        if case .event(let event, _) = WatchLine.decode(line, maxBytes: limit) { cache.apply(event) }
    }
    _ = cache.objects.count
    return 0
}

/// The lines of `stream` read `step` bytes at a time, and whether the limit refused one.
private func lines(_ stream: UnsafeRawBufferPointer, step: Int, limit: Int) -> Split {
    var splitter = LineSplitter(maxLineBytes: limit)
    var out = Split()
    var offset = 0
    while offset < stream.count {
        let end = min(stream.count, offset + step)
        do {
            try splitter.feed(UnsafeRawBufferPointer(rebasing: stream[offset..<end])) { out.lines.append($0) }
        } catch {
            out.refused = true
            return out
        }
        Fuzz.require(splitter.bufferedBytes <= limit, "the splitter holds \(splitter.bufferedBytes) bytes")
        offset = end
    }
    return out
}

private struct Split: Equatable {
    var lines: [[UInt8]] = []
    var refused = false
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
