import CLinux
import Glibc
import RampartCrypto
import Synchronization

/// One basic-auth PBKDF2 check asked by a loop for a parked request.
struct CredentialJob: Sendable {
    /// The credential and what its result updates.
    struct Credential: Sendable {
        let hash: PasswordHash
        var password: [UInt8]
        /// The user index, or -1 for an unknown user (then `hash` is the route's dummy).
        let user: Int
        let mac: [UInt8]
        let auth: CompiledBasicAuth
    }

    var credential: Credential
    /// limit-count's count when it ran before basic-auth, handed back so the resumed request is not counted twice.
    let limitCount: Int?
    let loop: LoopShared
    let fd: Int32
    let serial: UInt32
}

/// A finished check, posted to the asking loop's inbox.
struct CredentialReply: Sendable {
    let credential: CredentialJob.Credential
    let matched: Bool
    let limitCount: Int?
    let fd: Int32
    let serial: UInt32
}

/// Bounds on basic-auth verifications not yet cached.
enum BasicAuthBudget {
    /// Checks one loop may have queued or running; past it a new credential gets 429 with Retry-After.
    static let maxPendingPerLoop = 32
    static let retryAfterSeconds = 1
    /// A parked request answers 408 if its check has not come back by then (the threads are stuck).
    static let parkTimeoutMs = 10_000
}

/// The basic-auth verifier threads, one set per process shared by every loop, route and snapshot:
/// PBKDF2 never runs on an event loop, and at most `threads` CPUs go to it however many guesses
/// arrive, and they run at a lower priority (nice 10) than the loops. Loops queue jobs (a mutex-held FIFO plus a semaphore eventfd, one count per job); a
/// thread takes one, runs PBKDF2, wipes the password and posts the reply to the loop's inbox.
final class CredentialVerifier: Sendable {
    static let shared = CredentialVerifier()

    /// The queue the threads share (a class of its own so threads started in `init` can hold it).
    private final class Jobs: Sendable {
        let semaphore: Int32
        let queue = Mutex<[CredentialJob]>([])
        init(semaphore: Int32) { self.semaphore = semaphore }
    }

    /// Threads that started; 0 if none could (then loops verify inline, as before this existed).
    let threads: Int
    private let jobs: Jobs

    private init() {
        let fd = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_SEMAPHORE))
        let jobs = Jobs(semaphore: fd)
        self.jobs = jobs
        guard fd >= 0 else {
            threads = 0
            return
        }
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let wanted = min(4, max(1, cpus / 2))
        var started = 0
        for _ in 0..<wanted {
            let t = OSThread {
                pthread_detach(pthread_self())
                // Below the loops: under a guessing flood the CPU goes to serving requests first.
                // (On Linux the nice value is per thread, and 0 names the calling one.)
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                CredentialVerifier.run(jobs)
            }
            if (try? t.start()) != nil { started += 1 }
        }
        threads = started
    }

    /// Queues a check; false when there are no verifier threads.
    func submit(_ job: CredentialJob) -> Bool {
        guard threads > 0 else { return false }
        jobs.queue.withLock { $0.append(job) }
        var one: UInt64 = 1
        _ = write(jobs.semaphore, &one, 8)
        return true
    }

    private static func run(_ jobs: Jobs) {
        while true {
            var v: UInt64 = 0
            if read(jobs.semaphore, &v, 8) != 8 { continue }
            guard var job = jobs.queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            let matched = verify(&job.credential)
            job.loop.inbox.withLock {
                $0.credentialReplies.append(CredentialReply(credential: job.credential, matched: matched,
                                                            limitCount: job.limitCount, fd: job.fd, serial: job.serial))
            }
            job.loop.wake()
        }
    }

    /// One PBKDF2; the password bytes are zeroed afterwards. An unknown user never matches.
    static func verify(_ cred: inout CredentialJob.Credential) -> Bool {
        let ok = cred.hash.matches(password: cred.password)
        for i in cred.password.indices { cred.password[i] = 0 }
        return ok && cred.user >= 0
    }
}
