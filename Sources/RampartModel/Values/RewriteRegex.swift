/// A proxy-rewrite `regexUri`, compiled once, here, with Swift `Regex`: validation refuses exactly
/// what the gateway could not serve (ICU-only syntax such as lookbehind, `(?w)`, `\p{InBasicLatin}`).
public struct RewriteRegex: @unchecked Sendable {
    // Regex is immutable once built and safe to use from several threads.
    private let regex: Regex<AnyRegexOutput>
    public let pattern: String
    public let replacement: String

    /// Why a pattern does not compile.
    public struct Invalid: Error, CustomStringConvertible {
        public let pattern: String
        public let reason: String
        public var description: String { "\"\(pattern)\" is not a valid regular expression: \(reason)" }
    }

    public init(pattern: String, replacement: String) throws(Invalid) {
        do {
            regex = try Regex(pattern)
        } catch {
            throw Invalid(pattern: pattern, reason: "\(error)")
        }
        self.pattern = pattern
        self.replacement = replacement
    }

    /// `path` with the first match replaced (`$N` in the replacement is group N), or nil if none matches.
    public func rewrite(_ path: String) -> String? {
        guard let match = try? regex.firstMatch(in: path) else { return nil }
        var out = String(path[path.startIndex..<match.range.lowerBound])
        var rest = Substring(replacement)
        while let c = rest.first {
            rest = rest.dropFirst()
            if c == "$", let digit = rest.first?.wholeNumberValue {
                rest = rest.dropFirst()
                if digit < match.output.count, let group = match.output[digit].substring { out += group }
                continue
            }
            out.append(c)
        }
        out += path[match.range.upperBound...]
        return out
    }
}
