import CCurl
import CShims

/// The libcurl-backed HTTP client used by the control plane (Kubernetes API, Vault, AWS, webhooks).
/// The full multi-handle client arrives with the secrets and Kubernetes issues.
public enum HTTPClientInfo {
    /// The linked libcurl version, for `rampart version`.
    public static var curlVersion: String {
        guard let v = curl_version() else { return "unknown" }
        return String(cString: v)
    }
}
