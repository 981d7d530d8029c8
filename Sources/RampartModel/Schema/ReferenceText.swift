import RampartYAML

/// The two renderings of `SchemaReference`: `rampart explain`'s text and the generated block of docs/reference.md.
extension SchemaReference {
    /// The lines that open and close the generated block of docs/reference.md (`make reference` replaces what lies between).
    public static let markdownBegin = "<!-- BEGIN generated from the schema tables by `make reference`; edit Sources/RampartModel/Schema, not this block -->"
    public static let markdownEnd = "<!-- END generated -->"

    // MARK: explain

    /// `rampart explain`'s answer for a resolved query, as `kubectl explain` lays it out.
    public static func explain(_ target: Target) -> String {
        var out = ["KIND:      \(target.kind.rawValue)", "VERSION:   \(apiVersion)"]
        guard let field = target.field else {
            let names = CRDGenerator.names(target.kind)
            out.append("NAMES:     \(names.plural), \(names.shortNames.joined(separator: ", "))")
            out += ["", "DESCRIPTION:", indent(summary(target.kind), 4)]
            out += fieldList(target.schema, title: "FIELDS:")
            out += fieldList(KindSchemas.spec(target.kind), title: "SPEC FIELDS (rampart explain \(target.kind.rawValue.lowercased()).spec.FIELD):")
            return out.joined(separator: "\n") + "\n"
        }
        let facts = facts(field, path: target.path.joined(separator: "."))
        out += ["", "FIELD:     \(facts.path) <\(facts.type)>", "", "DESCRIPTION:", indent(facts.doc.isEmpty ? "(none)" : facts.doc, 4), ""]
        out.append("TYPE:      \(facts.type)")
        if let format = facts.format { out.append("FORMAT:    \(format)") }
        out.append("REQUIRED:  \(facts.required ? "yes" : "no")")
        out.append("DEFAULT:   \(facts.defaultValue ?? "(none)")")
        out.append("BOUNDS:    \(facts.bounds.isEmpty ? "(none)" : facts.bounds.joined(separator: "; "))")
        if !facts.values.isEmpty { out.append("VALUES:    \(facts.values.joined(separator: ", "))") }
        out.append("SENSITIVE: \(sensitivity(facts))")
        out += fieldList(target.schema, title: "FIELDS:")
        return out.joined(separator: "\n") + "\n"
    }

    static func sensitivity(_ facts: Facts) -> String {
        if facts.sensitive { return "yes: never printed or logged; write exactly one of secretRef, encrypted or value" }
        return facts.holdsSensitive ? "no, but fields below it are" : "no"
    }

    /// A field list under `title`: each child's name, type and flags, with its doc and default indented below.
    static func fieldList(_ schema: Schema, title: String) -> [String] {
        guard let fields = children(schema), !fields.isEmpty else { return [] }
        let width = fields.map(\.name.count).max() ?? 0
        var out = ["", title]
        for field in fields {
            let facts = facts(field, path: field.name)
            var line = "    " + field.name + String(repeating: " ", count: width - field.name.count) + "  <\(facts.type)>"
            if facts.required { line += " -required-" }
            if facts.sensitive { line += " -sensitive-" }
            out.append(line)
            var about = facts.doc
            if let d = facts.defaultValue { about += (about.isEmpty ? "" : " ") + "(default \(d))" }
            if !about.isEmpty { out.append(indent(about, 8)) }
        }
        return out
    }

    static func indent(_ text: String, _ spaces: Int) -> String {
        String(repeating: " ", count: spaces) + text
    }

    // MARK: markdown

    /// The generated block of docs/reference.md, markers included: the metadata table, one table per kind, the formats.
    public static func markdown() -> String {
        var out = [markdownBegin, ""]
        out += ["### Every kind: `apiVersion`, `kind`, `metadata`, `status`", ""]
        out.append("Every resource is `apiVersion: \(apiVersion)` with its `kind`, the usual `metadata` and a `spec`; `status` is Rampart's to write.")
        out.append("")
        let envelope = Schema.object((resource(.route).fields ?? []).filter { $0.name != "spec" })
        out += table(allFacts(envelope, prefix: ""))
        for kind in Kind.allCases {
            let names = CRDGenerator.names(kind)
            out += ["", "### \(kind.rawValue)", ""]
            out.append("`kind: \(kind.rawValue)` (plural `\(names.plural)`, short name\(names.shortNames.count == 1 ? "" : "s") "
                + names.shortNames.map { "`\($0)`" }.joined(separator: ", ") + "): \(summary(kind)). "
                + "`rampart explain \(kind.rawValue.lowercased()).spec` walks it field by field.")
            out.append("")
            out += table(allFacts(KindSchemas.spec(kind), prefix: "spec", collapse: true))
        }
        out += ["", "### Value formats", "", "| Type | Written as |", "|---|---|"]
        for f in formatsInUse() { out.append("| \(f.name) | \(cell(f.hint)) |") }
        out += ["", markdownEnd]
        return out.joined(separator: "\n") + "\n"
    }

    static func table(_ rows: [Facts]) -> [String] {
        var out = ["| Field | Type | Required | Default | Bounds | Values | Sensitive | Description |", "|---|---|---|---|---|---|---|---|"]
        for r in rows {
            let cells = [
                code(r.path), cell(r.type), r.required ? "yes" : "", r.defaultValue.map(code) ?? "",
                cell(r.bounds.joined(separator: "; ")), r.values.map(code).joined(separator: ", "),
                r.sensitive ? "yes" : "", cell(r.doc),
            ]
            out.append("| " + cells.joined(separator: " | ") + " |")
        }
        return out
    }

    /// Prose safe inside a table cell: pipes and emphasis marks escaped, no line breaks.
    static func cell(_ text: String) -> String {
        oneLine(text).replacingOccurrences(of: "*", with: "\\*")
    }

    /// A code span inside a table cell.
    static func code(_ text: String) -> String {
        "`" + oneLine(text) + "`"
    }

    /// GFM splits a table row at every unescaped pipe, even inside a code span.
    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
