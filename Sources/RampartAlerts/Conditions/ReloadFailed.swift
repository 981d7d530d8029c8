/// `reloadFailed`: the last reconcile left errors, or a desired state failed to apply within the window;
/// more than `threshold` of them (default 0) fire.
enum ReloadFailed {
    static func observe(_ input: ConditionInput, _ reload: ReloadFact, memory: inout RuleMemory) -> [Observation] {
        var samples = memory.reloads.map { (at: $0.at, value: $0.failed) }
        Window.append(&samples, (input.now, reload.failedReloads), window: input.rule.windowSeconds)
        let base = Window.baseline(&samples, now: input.now, window: input.rule.windowSeconds)
        memory.reloads = samples.map { (at: $0.at, failed: $0.value) }
        let failed = max(0, reload.failedReloads - (base?.value ?? reload.failedReloads))
        let count = reload.errors.count + failed
        return [Observation(subject: [:], isTrue: Double(count) > input.rule.threshold, value: "\(count)", facts: [
            "errors": "\(reload.errors.count)", "error": reload.errors.first ?? "", "failedReloads": "\(failed)",
        ])]
    }
}
