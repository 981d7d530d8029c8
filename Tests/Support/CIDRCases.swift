/// The CIDR parser's edge cases, one table: the Model's tests check validation against it and the
/// gateway's tests check serving (and inet_pton) against the same rows.
public enum CIDRCases {
    /// A text and what it parses to: the network's address bytes and prefix, or nil (refused).
    public struct Row: Sendable {
        public let text: String
        public let parsed: (address: [UInt8], prefix: Int)?
        public let why: String
    }

    static func row(_ text: String, _ address: [UInt8], _ prefix: Int, _ why: String) -> Row {
        Row(text: text, parsed: (address, prefix), why: why)
    }

    static func refused(_ text: String, _ why: String) -> Row { Row(text: text, parsed: nil, why: why) }

    static let zero16 = [UInt8](repeating: 0, count: 16)

    public static let rows: [Row] = [
        row("10.0.0.0/8", [10, 0, 0, 0], 8, "plain IPv4 network"),
        row("192.168.1.7", [192, 168, 1, 7], 32, "a bare IPv4 address is a /32"),
        row("0.0.0.0/0", [0, 0, 0, 0], 0, "everything"),
        row("10.0.0.0/32", [10, 0, 0, 0], 32, "longest IPv4 prefix"),
        refused("10.0.0.0/33", "IPv4 prefix above 32"),
        refused("010.0.0.1", "leading zero: octal to some parsers, refused as inet_pton does"),
        refused("10.0.0.01", "leading zero in the last octet"),
        refused("256.0.0.1", "octet above 255"),
        refused("10.0.0", "three octets"),
        refused("10.0.0.0.0", "five octets"),
        refused("10.0.0.0/", "empty prefix"),
        refused("10.0.0.0/08", "prefix with a leading zero"),
        refused("10.0.0.0/+8", "signed prefix"),
        refused("10.0.0.0/-1", "negative prefix"),
        refused("10.0.0.0/8/8", "two slashes"),
        refused(" 10.0.0.0/8", "leading space"),
        refused("10.0.0.0/8 ", "trailing space"),
        refused("10.0.0.0 /8", "space before the slash"),
        refused("10.0.0.0/ 8", "space after the slash"),
        refused("", "empty"),
        refused("nope", "not an address"),
        row("::", zero16, 128, "the unspecified IPv6 address"),
        row("::/0", zero16, 0, "every IPv6 address"),
        row("::1", zero16.dropLast() + [1], 128, "loopback"),
        row("2001:db8::/32", [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12), 32, "IPv6 network"),
        row("2001:DB8::/32", [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12), 32, "upper-case hex"),
        refused("2001:db8::/129", "IPv6 prefix above 128"),
        row("::ffff:10.0.0.0/104", [10, 0, 0, 0], 8, "an IPv4-mapped network is the IPv4 network it names"),
        row("::ffff:192.0.2.1", [192, 0, 2, 1], 32, "an IPv4-mapped address is that IPv4 address"),
        row("::ffff:c000:201", [192, 0, 2, 1], 32, "IPv4-mapped, written in hex"),
        row("::ffff:0:0/95", [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 0, 0, 0, 0], 95, "shorter than the mapped prefix: stays IPv6"),
        refused("::ffff:010.0.0.1", "leading zero in a dotted IPv6 tail"),
        row("1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8], 128, "eight groups"),
        row("1:2:3:4:5:6:7::", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0], 128, "'::' standing for one group"),
        refused("1:2:3:4:5:6:7:8::", "nine groups"),
        refused("1::2:3:4:5:6:7:8", "'::' among eight groups"),
        refused("1:2:3:4:5:6:7", "seven groups"),
        refused("1::2::3", "two '::'"),
        refused(":::", "three colons"),
        refused(":1::", "a lone leading colon"),
        refused("1::2:", "a lone trailing colon"),
        refused("12345::", "a group of five digits"),
        refused("+1::", "a signed group"),
        refused("g::", "not hex"),
        refused("fe80::1%eth0", "a zone id names an interface, not a network"),
        refused("fe80::1%eth0/64", "a zone id with a prefix"),
        refused("[::1]", "brackets belong to URLs, not to addresses"),
        refused("1.2.3.4::", "dotted IPv4 not at the end"),
        refused("::1.2.3.4:5", "dotted IPv4 in the middle"),
        refused("1:2:3:4:5:6:7:1.2.3.4", "dotted tail after seven groups"),
    ]
}
