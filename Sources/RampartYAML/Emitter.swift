import CYAML

/// Writes `Node` trees as block-style YAML with libyaml's emitter.
///
/// A string scalar that would read back as another type (`"true"`, `"8080"`) is double-quoted,
/// so emitting and re-parsing round-trips values.
public enum Emitter {
    public static func emit(_ documents: [Node]) -> String {
        let out = OutputBuffer()
        var emitter = yaml_emitter_t()
        guard yaml_emitter_initialize(&emitter) == 1 else { return "" }
        defer { yaml_emitter_delete(&emitter) }
        yaml_emitter_set_unicode(&emitter, 1)
        yaml_emitter_set_width(&emitter, -1)
        yaml_emitter_set_indent(&emitter, 2)
        let ctx = Unmanaged.passUnretained(out).toOpaque()
        yaml_emitter_set_output(&emitter, { data, buffer, size in
            guard let data, let buffer else { return 0 }
            let out = Unmanaged<OutputBuffer>.fromOpaque(data).takeUnretainedValue()
            out.bytes.append(contentsOf: UnsafeBufferPointer(start: buffer, count: size))
            return 1
        }, ctx)

        var event = yaml_event_t()
        yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING)
        guard yaml_emitter_emit(&emitter, &event) == 1 else { return "" }
        for doc in documents {
            yaml_document_start_event_initialize(&event, nil, nil, nil, documents.count > 1 ? 0 : 1)
            guard yaml_emitter_emit(&emitter, &event) == 1 else { return "" }
            guard emitNode(doc, &emitter) else { return "" }
            yaml_document_end_event_initialize(&event, 1)
            guard yaml_emitter_emit(&emitter, &event) == 1 else { return "" }
        }
        yaml_stream_end_event_initialize(&event)
        guard yaml_emitter_emit(&emitter, &event) == 1 else { return "" }
        yaml_emitter_flush(&emitter)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    private static func emitNode(_ node: Node, _ emitter: inout yaml_emitter_t) -> Bool {
        var event = yaml_event_t()
        switch node.value {
        case .scalar(let s):
            let needsQuotes: Bool
            switch s.style {
            case .plain:
                needsQuotes = false
            default:
                if case .string = CoreSchema.resolvePlain(s.text) { needsQuotes = false } else { needsQuotes = true }
            }
            let style = needsQuotes ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE
            // NUL-terminated so the buffer is never empty; the length excludes the terminator.
            var bytes = Array(s.text.utf8)
            let length = Int32(bytes.count)
            bytes.append(0)
            let ok = bytes.withUnsafeMutableBufferPointer { buf -> Int32 in
                guard let base = buf.baseAddress else { return 0 }
                return yaml_scalar_event_initialize(&event, nil, nil, base, length, needsQuotes ? 0 : 1, 1, style)
            }
            guard ok == 1 else { return false }
            return yaml_emitter_emit(&emitter, &event) == 1
        case .sequence(let items):
            yaml_sequence_start_event_initialize(&event, nil, nil, 1, items.isEmpty ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE)
            guard yaml_emitter_emit(&emitter, &event) == 1 else { return false }
            for item in items where !emitNode(item, &emitter) { return false }
            yaml_sequence_end_event_initialize(&event)
            return yaml_emitter_emit(&emitter, &event) == 1
        case .mapping(let pairs):
            yaml_mapping_start_event_initialize(&event, nil, nil, 1, pairs.isEmpty ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE)
            guard yaml_emitter_emit(&emitter, &event) == 1 else { return false }
            for p in pairs {
                guard emitNode(p.key, &emitter), emitNode(p.value, &emitter) else { return false }
            }
            yaml_mapping_end_event_initialize(&event)
            return yaml_emitter_emit(&emitter, &event) == 1
        }
    }
}

/// Collects emitter output; reached from a C callback through `Unmanaged`.
private final class OutputBuffer {
    var bytes: [UInt8] = []
}
