/// `secretResolutionFailed`: a SecretRef whose last fetch failed more than `threshold` times in a row (default 0).
enum SecretResolutionFailed {
    static func observe(_ input: ConditionInput, _ secrets: [SecretFact]) -> [Observation] {
        secrets.map { s in
            let failing = s.error != nil && Double(s.consecutiveFailures) > input.rule.threshold
            return Observation(subject: ["secretRef": s.ref], isTrue: failing, value: "\(s.consecutiveFailures)", facts: [
                "secretRef": s.ref, "provider": s.provider, "error": s.error ?? "", "failures": "\(s.consecutiveFailures)",
            ])
        }
    }
}
