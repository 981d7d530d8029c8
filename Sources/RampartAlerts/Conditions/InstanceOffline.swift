/// `instanceOffline`: an instance whose last heartbeat is older than the threshold.
enum InstanceOffline {
    static func observe(_ input: ConditionInput, _ heartbeats: [HeartbeatFact]) -> [Observation] {
        heartbeats.map { h in
            let offlineFor = max(0, input.now - (h.lastSeen ?? h.watchedSince))
            return Observation(subject: ["peer": h.peer], isTrue: offlineFor > input.rule.threshold, value: Format.duration(offlineFor), facts: [
                "peer": h.peer, "lastSeen": h.lastSeen.map(Format.time) ?? "never", "offlineFor": Format.duration(offlineFor), "error": h.error ?? "",
            ])
        }
    }
}
