import Glibc

/// A growable byte buffer with a read index and a write index, reused for a connection's life.
/// Owned by one event loop; never shared across threads.
final class ByteBuffer {
    /// Indices live behind a pointer so that hot-path reads and writes need no dynamic
    /// exclusivity checks (class stored `var`s would).
    private struct Header {
        var base: UnsafeMutablePointer<UInt8>
        var capacity: Int
        var readIndex: Int
        var writeIndex: Int
    }
    private let h: UnsafeMutablePointer<Header>

    @inline(__always) var base: UnsafeMutablePointer<UInt8> { h.pointee.base }
    @inline(__always) var capacity: Int { h.pointee.capacity }
    /// Unread bytes are base[readIndex..<writeIndex].
    @inline(__always) var readIndex: Int {
        get { h.pointee.readIndex }
        set { h.pointee.readIndex = newValue }
    }
    @inline(__always) var writeIndex: Int {
        get { h.pointee.writeIndex }
        set { h.pointee.writeIndex = newValue }
    }

    init(capacity: Int) {
        let cap = max(capacity, 64)
        h = UnsafeMutablePointer<Header>.allocate(capacity: 1)
        h.initialize(to: Header(base: UnsafeMutablePointer<UInt8>.allocate(capacity: cap), capacity: cap, readIndex: 0, writeIndex: 0))
    }

    deinit {
        h.pointee.base.deallocate()
        h.deinitialize(count: 1)
        h.deallocate()
    }

    @inline(__always) var readable: Int { writeIndex - readIndex }
    @inline(__always) var isEmpty: Bool { readIndex == writeIndex }
    @inline(__always) var writable: Int { capacity - writeIndex }
    @inline(__always) var readPointer: UnsafeMutablePointer<UInt8> { base + readIndex }
    @inline(__always) var writePointer: UnsafeMutablePointer<UInt8> { base + writeIndex }

    @inline(__always) subscript(i: Int) -> UInt8 { base[i] }

    func clear() {
        readIndex = 0
        writeIndex = 0
    }

    /// Moves unread bytes to the front.
    func compact() {
        if readIndex == 0 { return }
        let n = readable
        if n > 0 { memmove(base, base + readIndex, n) }
        readIndex = 0
        writeIndex = n
    }

    /// Ensures `n` bytes can be written at writeIndex (compacting, then growing).
    func reserve(_ n: Int) {
        if writable >= n { return }
        compact()
        if writable >= n { return }
        var newCap = capacity * 2
        while newCap - writeIndex < n { newCap *= 2 }
        let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
        if writeIndex > 0 { nb.update(from: base, count: writeIndex) }
        base.deallocate()
        h.pointee.base = nb
        h.pointee.capacity = newCap
    }

    /// Shrinks an idle buffer that grew far past its initial size.
    func shrinkIfIdle(to cap: Int) {
        guard isEmpty, capacity > cap * 4 else { return }
        base.deallocate()
        h.pointee.capacity = cap
        h.pointee.base = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        readIndex = 0
        writeIndex = 0
    }

    @inline(__always) func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
        if n == 0 { return }
        reserve(n)
        (base + writeIndex).update(from: p, count: n)
        writeIndex += n
    }

    @inline(__always) func append(_ b: UInt8) {
        reserve(1)
        base[writeIndex] = b
        writeIndex += 1
    }

    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { bp in
            if let p = bp.baseAddress { append(p, bp.count) }
        }
    }

    func append(_ s: String) {
        var s = s
        s.withUTF8 { bp in
            if let p = bp.baseAddress { append(p, bp.count) }
        }
    }

    func append(_ s: StaticString) {
        append(s.utf8Start, s.utf8CodeUnitCount)
    }

    func appendDecimal(_ v: Int) {
        var v = v
        if v < 0 { append(UInt8(ascii: "-")); v = -v }
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &tmp) { raw in
            var i = 20
            repeat {
                i -= 1
                raw[i] = UInt8(48 + v % 10)
                v /= 10
            } while v > 0 && i > 0
            if let p = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) {
                append(p + i, 20 - i)
            }
        }
    }

    func appendHex(_ v: Int) {
        let digits: StaticString = "0123456789abcdef"
        var started = false
        var shift = 60
        while shift >= 0 {
            let d = (v >> shift) & 0xF
            if d != 0 || started || shift == 0 {
                started = true
                append(digits.utf8Start[d])
            }
            shift -= 4
        }
    }

    /// Copies `n` readable bytes from another buffer and consumes them there.
    func transfer(from other: ByteBuffer, count n: Int) {
        append(other.readPointer, n)
        other.readIndex += n
        if other.isEmpty { other.clear() }
    }

    func consume(_ n: Int) {
        readIndex += n
        if readIndex >= writeIndex { clear() }
    }

    func bytes(_ start: Int, _ len: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: base + start, count: len))
    }

    func string(_ start: Int, _ len: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: base + start, count: len), as: UTF8.self)
    }
}
