import CYAML
import RampartCrypto
import RampartHTTPClient

/// `rampart version`: version, build and linked library versions.
enum VersionCommand {
    static let version = "0.1.0"

    static let help = """
    Usage: rampart version

    Prints Rampart's version, build configuration and the versions of the linked
    C libraries (libyaml, libcurl, OpenSSL).
    """

    static func run(_ args: [String]) -> Int32 {
        if args.contains("--help") { print(help); return Exit.ok }
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        print("rampart \(version) (\(build))")
        print("libyaml \(String(cString: yaml_get_version_string()))")
        print("libcurl \(HTTPClientInfo.curlVersion)")
        print("openssl \(CryptoInfo.openSSLVersion)")
        return Exit.ok
    }
}
