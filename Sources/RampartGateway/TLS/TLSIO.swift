import COpenSSL
import Glibc

/// Where a nonblocking TLS connection stands: what OpenSSL waits for before it can go on.
struct TLSIOState {
    var handshaking = false
    /// The handshake waits for the socket to be writable.
    var handshakeWantsWrite = false
    /// SSL_read needs a writable socket (or SSL_write a readable one) before it can continue.
    var readWantsWrite = false
    var writeWantsRead = false
    /// The last read wanted more bytes from the socket: what OpenSSL holds is a partial record, and
    /// epoll reports the rest when it comes (so it must not be queued as readable: that would spin).
    var readNeedsSocket = false
    /// A fatal error happened: no close_notify may be sent.
    var broken = false
}

/// SSL_read/SSL_write/SSL_do_handshake with read(2)/write(2)-like results, for the event loops.
enum TLSIO {
    /// >0 bytes, 0 clean EOF (close_notify), -1 with errno EAGAIN (wait) or EIO (failed).
    @inline(__always)
    static func read(_ ssl: OpaquePointer, _ p: UnsafeMutableRawPointer, _ n: Int, _ st: inout TLSIOState) -> Int {
        var got = 0
        if SSL_read_ex(ssl, p, n, &got) == 1 {
            st.readWantsWrite = false
            st.readNeedsSocket = false
            return got
        }
        return failure(ssl, 0, &st, read: true)
    }

    /// OpenSSL holds record bytes it read ahead of the last `read`: readable with no epoll event.
    @inline(__always)
    static func hasPending(_ ssl: OpaquePointer) -> Bool { SSL_has_pending(ssl) == 1 }

    /// Bytes written (>0), or -1 with errno EAGAIN (wait) or EIO (failed).
    @inline(__always)
    static func write(_ ssl: OpaquePointer, _ p: UnsafeRawPointer, _ n: Int, _ st: inout TLSIOState) -> Int {
        var put = 0
        if SSL_write_ex(ssl, p, n, &put) == 1 {
            st.writeWantsRead = false
            return put
        }
        return failure(ssl, 0, &st, read: false)
    }

    private static func failure(_ ssl: OpaquePointer, _ rc: Int32, _ st: inout TLSIOState, read: Bool) -> Int {
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ:
            if read {
                st.readWantsWrite = false
                st.readNeedsSocket = true
            } else {
                st.writeWantsRead = true
            }
            errno = EAGAIN
            return -1
        case SSL_ERROR_WANT_WRITE:
            if read { st.readWantsWrite = true }
            errno = EAGAIN
            return -1
        case SSL_ERROR_ZERO_RETURN:
            if read { return 0 }
            fallthrough
        default:
            st.broken = true
            ERR_clear_error()
            errno = EIO
            return -1
        }
    }

    /// 1 done, 0 in progress (see `handshakeWantsWrite`), -1 failed (reason: `failureReason` before anything else).
    static func handshake(_ ssl: OpaquePointer, _ st: inout TLSIOState) -> Int {
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            st.handshaking = false
            st.handshakeWantsWrite = false
            return 1
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ:
            st.handshakeWantsWrite = false
            return 0
        case SSL_ERROR_WANT_WRITE:
            st.handshakeWantsWrite = true
            return 0
        default:
            st.broken = true
            return -1
        }
    }

    /// Why a handshake failed: the certificate verification result if that failed, else OpenSSL's errors.
    static func failureReason(_ ssl: OpaquePointer) -> String {
        let v = SSL_get_verify_result(ssl)
        if v != X509_V_OK, let s = X509_verify_cert_error_string(v) {
            ERR_clear_error()
            return "certificate verify failed: " + String(cString: s)
        }
        let e = TLSText.drainErrors()
        return e == "unknown OpenSSL error" ? "connection closed during the handshake" : e
    }

    /// Sends close_notify when the session is healthy, then frees the SSL.
    static func close(_ ssl: OpaquePointer, _ st: TLSIOState) {
        if !st.broken && !st.handshaking { _ = SSL_shutdown(ssl) }
        SSL_free(ssl)
        ERR_clear_error()
    }

    /// The verified client certificate's subject (RFC 2253), or empty.
    static func verifiedPeerSubject(_ ssl: OpaquePointer) -> [UInt8] {
        guard let cert = SSL_get0_peer_certificate(ssl), SSL_get_verify_result(ssl) == X509_V_OK else { return [] }
        return TLSText.name(X509_get_subject_name(cert))
    }
}
