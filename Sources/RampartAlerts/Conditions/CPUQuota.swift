/// `cpuQuota`: CPU used over the window (`cpu.stat` usage_usec) as a percentage of the `cpu.max` quota.
enum CPUQuota {
    static func observe(_ input: ConditionInput, _ sample: CgroupSample, memory: inout RuleMemory) -> [Observation] {
        guard let usage = sample.cpuUsageMicroseconds, let limit = sample.cpuMax else {
            Conditions.sayOnce("unreadable", "cpuQuota: cannot read cpu.max and cpu.stat under \(sample.path); this rule never fires", input, memory: &memory)
            return []
        }
        guard let cpus = limit.cpus else {
            Conditions.sayOnce("nolimit", "cpuQuota: the cgroup has no CPU limit (cpu.max is max); this rule never fires", input, memory: &memory)
            return [Observation(subject: [:], isTrue: false, value: "no limit", facts: ["usage": "", "limit": "max", "cgroup": sample.path])]
        }
        var samples = memory.cpu.map { (at: $0.at, value: $0.usage) }
        Window.append(&samples, (input.now, usage), window: input.rule.windowSeconds)
        let base = Window.baseline(&samples, now: input.now, window: input.rule.windowSeconds)
        memory.cpu = samples.map { (at: $0.at, usage: $0.value) }
        guard let base, usage >= base.value else { return [] }
        let used = Double(usage - base.value) / 1_000_000 / (input.now - base.at)
        let percent = used / cpus * 100
        let text = Format.number(percent, digits: 1) + "%"
        return [Observation(subject: [:], isTrue: percent > input.rule.threshold, value: text,
                            facts: ["usage": text, "limit": Format.number(cpus) + " CPU", "cgroup": sample.path])]
    }
}
