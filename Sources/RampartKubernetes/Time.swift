import Foundation

/// Kubernetes' two time formats, in UTC: `Time` (RFC 3339, whole seconds, conditions and events)
/// and `MicroTime` (six fractional digits, Leases).
public enum KubeTime {
    public static func time(_ date: Date) -> String { format(date, micro: false) }
    public static func microTime(_ date: Date) -> String { format(date, micro: true) }

    /// Reads RFC 3339 with any number of fractional digits and `Z` or a `±hh:mm` offset.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x74, b[13] == 0x3A, b[16] == 0x3A else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var fraction = 0.0
        if b[index] == 0x2E {
            index += 1
            var scale = 0.1
            let start = index
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39, index - start < 9 {
                fraction += Double(b[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < b.count else { return nil }
        var offset = 0
        if b[index] == 0x5A || b[index] == 0x7A {
            guard index + 1 == b.count else { return nil }
        } else {
            guard index + 6 == b.count, b[index] == 0x2B || b[index] == 0x2D, b[index + 3] == 0x3A,
                  let h = number((index + 1)..<(index + 3)), let m = number((index + 4)..<(index + 6)), h < 24, m < 60 else { return nil }
            offset = (h * 3600 + m * 60) * (b[index] == 0x2D ? -1 : 1)
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: Double(seconds - offset) + fraction)
    }

    private static func format(_ date: Date, micro: Bool) -> String {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, abs(interval) < 1e11 else { return "1970-01-01T00:00:00Z" }
        var whole = time_t(interval.rounded(.down))
        var micros = Int(((interval - Double(whole)) * 1_000_000).rounded(.down))
        if micros >= 1_000_000 {
            whole += 1
            micros -= 1_000_000
        }
        var parts = tm()
        gmtime_r(&whole, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var out = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        out += "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if micro { out += "." + pad(Int32(micros), 6) }
        return out + "Z"
    }
}
