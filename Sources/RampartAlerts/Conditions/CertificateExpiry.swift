/// `certificateExpiry`: a served, upstream-client, CA or admin certificate expiring within the threshold.
enum CertificateExpiry {
    static func observe(_ input: ConditionInput, _ certificates: [CertificateFact]) -> [Observation] {
        let rule = input.rule
        var out: [Observation] = []
        for c in certificates {
            let subject: [String: String]
            if let sni = c.sni {
                guard rule.selects(sni: sni) else { continue }
                subject = ["sni": sni]
            } else {
                // A selector of SNIs narrows to served certificates.
                guard rule.spec.selectorSNIs.isEmpty else { continue }
                subject = ["certificate": c.certificate]
            }
            let remaining = c.notAfter - input.now
            let text = remaining <= 0 ? "expired" : Format.duration(remaining)
            out.append(Observation(subject: subject, isTrue: remaining < rule.threshold, value: text, facts: [
                "sni": c.sni ?? "", "certificate": c.certificate, "notAfter": Format.time(c.notAfter), "remaining": text,
            ]))
        }
        return out
    }
}
