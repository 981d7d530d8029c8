// libFuzzer target: the request path normal form (RampartModel/Decoding/PathNormalForm.swift) that the router
// matches and the upstream receives. Checked against a plain reference of the documented rules, for
// idempotence (normalizing a normal path changes nothing) and for what a normal path can never contain.
import FuzzSupport
import RampartModel

private let slash = UInt8(ascii: "/"), dot = UInt8(ascii: "."), percent = UInt8(ascii: "%")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Paths start with "/" (the request parser guarantees it); give most inputs one.
    var path = Array(UnsafeBufferPointer(start: data, count: size))
    if path.first != slash { path.insert(slash, at: 0) }
    let capacity = PathNormalForm.scratchCapacity(forPathLength: path.count)
    // Exactly the documented capacity, so that ASan sees any write past it.
    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    defer { scratch.deallocate() }
    let normal: [UInt8]? = path.withUnsafeBufferPointer { input in
        guard let base = input.baseAddress,
              let result = PathNormalForm.normalize(base, input.count, scratch: scratch, capacity: capacity) else { return nil }
        Fuzz.require(result.count > 0 && result.count <= capacity, "normal form of \(result.count) bytes, capacity \(capacity)")
        Fuzz.require(result.base == base || result.base == UnsafePointer(scratch), "result outside the input and the scratch")
        return Array(UnsafeBufferPointer(start: result.base, count: result.count))
    }
    let expected = reference(path)
    Fuzz.require(normal == expected, "normal form \(show(normal)) but the rules give \(show(expected)) for \(show(path))")
    guard let normal else { return 0 }
    Fuzz.require(PathNormalForm.normalize(normal) == normal, "normalizing \(show(normal)) again changes it")
    Fuzz.require(PathNormalForm.isNormal(String(decoding: normal, as: UTF8.self)), "\(show(normal)) is not reported normal")
    Fuzz.require(normal.first == slash, "does not start with /")
    for (index, byte) in normal.enumerated() {
        Fuzz.require(byte > 0x20 && byte < 0x7F && !"\\#;?".utf8.contains(byte), "byte \(byte) left in the path")
        if byte == slash {
            let rest = normal[(index + 1)...]
            Fuzz.require(!rest.starts(with: [slash]) && !rest.starts(with: [dot, slash]) && !rest.starts(with: [dot, dot, slash])
                         && rest.elementsEqual([dot]) == false && rest.elementsEqual([dot, dot]) == false,
                         "\(show(normal)) holds //, /./ or /../")
        }
        if byte == percent {
            Fuzz.require(index + 2 < normal.count, "escape cut short")
        }
    }
    return 0
}

/// The rules written plainly: decode and check each byte, split on "/", drop empty and "." segments,
/// let ".." remove the previous one (never the root), keep a trailing "/".
private func reference(_ path: [UInt8]) -> [UInt8]? {
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x37
        case 0x61...0x66: return c - 0x57
        default: return nil
        }
    }
    func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || "-._~".utf8.contains(c)
    }
    func escape(_ c: UInt8) -> [UInt8] {
        Array(("%" + String(c >> 4, radix: 16, uppercase: true) + String(c & 15, radix: 16, uppercase: true)).utf8)
    }
    var segments: [[UInt8]] = [[]]
    var i = 1
    while i < path.count {
        let c = path[i]
        if c == slash {
            segments.append([])
            i += 1
            continue
        }
        if c == percent {
            guard i + 2 < path.count, let hi = hex(path[i + 1]), let lo = hex(path[i + 2]) else { return nil }
            let decoded = hi << 4 | lo
            if isUnreserved(decoded) { segments[segments.count - 1].append(decoded) }
            else if decoded == slash || decoded == UInt8(ascii: "\\") || decoded < 0x20 || decoded == 0x7F { return nil }
            else { segments[segments.count - 1] += escape(decoded) }
            i += 3
            continue
        }
        if c <= 0x20 || c == 0x7F || "\\#;?".utf8.contains(c) { return nil }
        let plain = isUnreserved(c) || "!$&'()*+,=:@".utf8.contains(c)
        segments[segments.count - 1] += plain ? [c] : escape(c)
        i += 1
    }
    var stack: [[UInt8]] = []
    for segment in segments {
        if segment.isEmpty || segment == [dot] { continue }
        if segment == [dot, dot] {
            guard !stack.isEmpty else { return nil }
            stack.removeLast()
            continue
        }
        stack.append(segment)
    }
    let last = segments.last ?? []
    let trailing = last.isEmpty || last == [dot] || last == [dot, dot]
    var out: [UInt8] = [slash]
    for (index, segment) in stack.enumerated() {
        out += segment
        if index < stack.count - 1 || trailing { out.append(slash) }
    }
    return out
}

private func show(_ bytes: [UInt8]?) -> String {
    guard let bytes else { return "refused" }
    return "\"" + bytes.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined() + "\""
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
