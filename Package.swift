// swift-tools-version:6.0
// Rampart: no Swift package dependencies by design. System C libraries only
// (libyaml, libcurl, OpenSSL 3) through systemLibrary targets and one C shim.
import PackageDescription

/// One libFuzzer executable per parser: its name (also its folder under Fuzz/) and the modules it reads.
let fuzzTargets: [(name: String, modules: [Target.Dependency])] = [
    ("FuzzRequestHead", ["RampartGateway"]),
    ("FuzzResponseHead", ["RampartGateway"]),
    ("FuzzChunked", ["RampartGateway"]),
    ("FuzzManifest", ["RampartModel", "RampartYAML"]),
    ("FuzzEncryptedValue", ["RampartCrypto"]),
    ("FuzzSecretResponses", ["RampartSecrets"]),
    ("FuzzPEM", ["RampartCrypto"]),
    ("FuzzPathNormalForm", ["RampartModel"]),
    ("FuzzWatchStream", ["RampartKubernetes"]),
]

let package = Package(
    name: "Rampart",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rampart", targets: ["rampart"]),
    ] + fuzzTargets.map { .executable(name: $0.name, targets: [$0.name]) },
    targets: [
        // System libraries.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLinux"),
        // The one small C shim: non-variadic wrappers for variadic functions and macros.
        .target(name: "CShims", dependencies: ["CCurl", "COpenSSL"]),

        // Modules, bottom to top (the module table of docs/design.md).
        .target(name: "RampartYAML", dependencies: ["CYAML"]),
        .target(name: "RampartModel", dependencies: ["RampartYAML"]),
        .target(name: "RampartCrypto", dependencies: ["COpenSSL", "CShims"]),
        .target(name: "RampartHTTPClient", dependencies: ["CCurl", "CShims"]),
        .target(name: "RampartKubernetes", dependencies: ["RampartHTTPClient", "RampartYAML"]),
        // The loops own their state on one thread each; Swift's dynamic exclusivity checks on those
        // classes' `var`s were 41 % of a request's instructions (bench/README.md). Release builds
        // drop them; debug builds, which run the tests, keep every check and trap on an overlap.
        .target(name: "RampartGateway", dependencies: ["RampartCrypto", "RampartModel", "CLinux", "COpenSSL", "CShims"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .target(name: "RampartSecrets", dependencies: ["RampartModel", "RampartYAML", "RampartHTTPClient", "RampartKubernetes", "RampartCrypto"]),
        .target(name: "RampartSources", dependencies: ["RampartModel", "RampartHTTPClient", "RampartKubernetes", "RampartYAML", "CLinux"]),
        .target(name: "RampartAlerts", dependencies: ["RampartModel", "RampartHTTPClient", "RampartGateway"]),
        .target(name: "RampartController", dependencies: [
            "RampartModel", "RampartYAML", "RampartSources", "RampartSecrets", "RampartCrypto", "RampartGateway", "RampartAlerts", "RampartKubernetes",
        ]),
        .executableTarget(name: "rampart", dependencies: [
            "RampartController", "RampartModel", "RampartYAML", "RampartCrypto", "RampartGateway",
            "RampartSources", "RampartHTTPClient", "RampartKubernetes",
        ]),

        // Tests.
        .target(name: "TestSupport", dependencies: ["RampartYAML"], path: "Tests/Support"),
        .testTarget(name: "RampartYAMLTests", dependencies: ["RampartYAML"], exclude: ["yaml-test-suite"]),
        .testTarget(name: "RampartModelTests", dependencies: ["RampartModel", "RampartYAML", "RampartSources", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RampartCryptoTests", dependencies: ["RampartCrypto"]),
        .testTarget(name: "RampartGatewayTests", dependencies: ["RampartGateway", "RampartModel", "TestSupport"]),
        .testTarget(name: "RampartSecretsTests", dependencies: ["RampartSecrets", "RampartModel", "RampartCrypto", "TestSupport"], exclude: ["aws-sigv4"]),
        .testTarget(name: "RampartKubernetesTests", dependencies: ["RampartKubernetes", "RampartHTTPClient", "TestSupport"]),
        .testTarget(name: "RampartSourcesTests", dependencies: ["RampartSources", "TestSupport"]),
        .testTarget(name: "RampartControllerTests", dependencies: ["RampartController", "RampartModel", "RampartCrypto", "TestSupport"]),
        .testTarget(name: "RampartAlertsTests", dependencies: ["RampartAlerts", "RampartModel", "RampartGateway", "RampartCrypto", "RampartHTTPClient"]),
        .testTarget(name: "IntegrationTests", dependencies: ["TestSupport"]),
        // The deploy artefacts: manifests/, charts/rampart/, the Dockerfile, and the RBAC checker.
        .testTarget(name: "DeployTests", dependencies: ["TestSupport", "RampartYAML"]),

        // Fuzz targets (make fuzz). Built with `--sanitize=fuzzer,address -Xswiftc -DFUZZING`, libFuzzer
        // supplies main; in a plain build each is a replay tool (`FuzzX FILE...`), so no libFuzzer is linked.
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
    ] + fuzzTargets.map { .executableTarget(name: $0.name, dependencies: ["FuzzSupport"] + $0.modules, path: "Fuzz/\($0.name)") },
    swiftLanguageModes: [.v6]
)
