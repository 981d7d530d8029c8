/// `memoryQuota`: `memory.current` as a percentage of `memory.max`.
enum MemoryQuota {
    static func observe(_ input: ConditionInput, _ sample: CgroupSample, memory: inout RuleMemory) -> [Observation] {
        if sample.memoryUnlimited {
            Conditions.sayOnce("nolimit", "memoryQuota: the cgroup has no memory limit (memory.max is max); this rule never fires", input, memory: &memory)
            return [Observation(subject: [:], isTrue: false, value: "no limit", facts: ["usage": "", "current": sample.memoryCurrent.map(Format.bytes) ?? "", "max": "max", "cgroup": sample.path])]
        }
        guard let current = sample.memoryCurrent, let max = sample.memoryMax, max > 0 else {
            Conditions.sayOnce("unreadable", "memoryQuota: cannot read memory.current and memory.max under \(sample.path); this rule never fires", input, memory: &memory)
            return []
        }
        let percent = Double(current) / Double(max) * 100
        let text = Format.number(percent, digits: 1) + "%"
        return [Observation(subject: [:], isTrue: percent > input.rule.threshold, value: text,
                            facts: ["usage": text, "current": Format.bytes(current), "max": Format.bytes(max), "cgroup": sample.path])]
    }
}
