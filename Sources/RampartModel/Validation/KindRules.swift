import RampartYAML

/// Per-kind rules that a field table cannot express (either-or fields, cross-field conditions).
enum KindRules {
    static func check(_ kind: Kind, _ spec: Node, dev: Bool, into d: inout Diagnostics) {
        if !dev { warnInlineSecrets(spec, KindSchemas.spec(kind), path: "spec", into: &d) }
        switch kind {
        case .route: route(spec, &d)
        case .upstream: upstream(spec, path: "spec", &d)
        case .ssl:
            if (spec.str("type") ?? "server") == "server", spec.strings("snis").isEmpty {
                d.error("spec.snis", "a server SSL needs at least one SNI", at: spec.mark)
            }
            if (spec.str("type") ?? "server") == "server", spec["privateKey"] == nil {
                d.error("spec.privateKey", "a server SSL needs its private key", at: spec.mark)
            }
        case .secretRef: secretRef(spec, &d)
        case .alertRule: alertRule(spec, &d)
        case .keyring:
            var ids = Set<String>()
            for k in spec["keys"]?.sequence ?? [] {
                if let id = k.str("id"), !ids.insert(id).inserted { d.error("spec.keys", "key id \"\(id)\" appears twice", at: k.mark) }
            }
        case .contactPoint: contactPoint(spec, &d)
        }
    }

    private static func route(_ s: Node, _ d: inout Diagnostics) {
        switch (s["upstreamRef"] != nil, s["upstream"] != nil) {
        case (false, false): d.error("spec.upstreamRef", "required: give upstreamRef or an inline upstream", at: s.mark)
        case (true, true): d.error("spec.upstream", "give either upstreamRef or an inline upstream, not both", at: s["upstream"]?.mark ?? s.mark)
        default: break
        }
        if let u = s["upstream"] { upstream(u, path: "spec.upstream", &d) }
        if let re = s["plugins"]?["proxy-rewrite"]?["regexUri"], let items = re.sequence {
            if items.count != 2 {
                d.error("spec.plugins.proxy-rewrite.regexUri", "expected [PATTERN, REPLACEMENT]", at: re.mark)
            } else if let pattern = items[0].scalar?.text {
                do throws(RewriteRegex.Invalid) {
                    _ = try RewriteRegex(pattern: pattern, replacement: items[1].scalar?.text ?? "")
                } catch {
                    d.error("spec.plugins.proxy-rewrite.regexUri[0]", error.description, at: items[0].mark)
                }
            }
        }
        if let l = s["plugins"]?["limit-count"], l.str("policy") == "redis", l["redis"] == nil {
            d.error("spec.plugins.limit-count.redis", "policy redis needs a redis block", at: l.mark)
        }
        if let cors = s["plugins"]?["cors"], cors.bool("allowCredentials") == true {
            let origins = cors.strings("allowOrigins")
            if origins.isEmpty || origins.contains("*") {
                // A credentialed "*" would mean reflecting every Origin: any site could read the user's data.
                d.error("spec.plugins.cors.allowOrigins", "allowCredentials needs the allowed origins listed (not \"*\" or absent)",
                        at: cors["allowOrigins"]?.mark ?? cors.mark)
            }
        }
        if let r = s["plugins"]?["ip-restriction"], r["allow"] == nil, r["deny"] == nil {
            d.error("spec.plugins.ip-restriction", "give allow, deny or both", at: r.mark)
        }
    }

    private static func upstream(_ s: Node, path: String, _ d: inout Diagnostics) {
        let nodes = s["nodes"]?.sequence ?? []
        if nodes.isEmpty && s["service"] == nil {
            d.error("\(path).nodes", "needs at least one node (or a service)", at: s["nodes"]?.mark ?? s.mark)
        }
        if let lb = s["loadBalancer"], lb.str("type") == "chash", lb["hashOn"] == nil {
            d.error("\(path).loadBalancer.hashOn", "chash needs hashOn (remote_addr, uri, header:NAME or cookie:NAME)", at: lb.mark)
        }
        for (i, item) in (s["healthCheck"]?["passive"]?["on"]?.sequence ?? []).enumerated() {
            let t = item.scalar?.text ?? ""
            let ok = t == "connect-failure" || t == "timeout" || (Int(t).map { $0 >= 100 && $0 <= 599 } ?? false)
            if !ok { d.error("\(path).healthCheck.passive.on[\(i)]", "\"\(t)\" is not a status code (100-599), connect-failure or timeout", at: item.mark) }
        }
        if s["tls"] != nil, (s.str("scheme") ?? "http") != "https" {
            d.warning("\(path).tls", "tls is set but scheme is http; it has no effect", at: s["tls"]?.mark ?? s.mark)
        }
    }

    private static func secretRef(_ s: Node, _ d: inout Diagnostics) {
        guard let provider = s.str("provider") else { return }
        if given(s, provider) == nil, provider != "kubernetes" || given(s, "kubernetes") == nil {
            d.error("spec.\(provider)", "provider \(provider) needs a spec.\(provider) block", at: s.mark)
        }
        for other in ["vault", "aws", "kubernetes", "env", "file"] where other != provider && given(s, other) != nil {
            d.error("spec.\(other)", "set, but provider is \(provider)", at: s[other]?.mark ?? s.mark)
        }
        if let auth = given(s["vault"], "auth"), let pairs = auth.mapping, pairs.filter({ !isNull($0.value) }).count != 1 {
            d.error("spec.vault.auth", "give exactly one of token, kubernetes, appRole", at: auth.mark)
        }
    }

    /// A field as the schema checker and the canonical form see it: an explicit null is the field left out
    /// (else `auth: {appRole: ~}` passed here, skipped appRole's required fields, and failed only when served).
    private static func given(_ node: Node?, _ name: String) -> Node? {
        guard let value = node?[name], !isNull(value) else { return nil }
        return value
    }

    private static func isNull(_ node: Node) -> Bool {
        if case .scalar = node.value, node.resolved == .null { return true }
        return false
    }

    private static func alertRule(_ s: Node, _ d: inout Diagnostics) {
        let type = s["condition"]?.str("type").flatMap(AlertConditionType.init(rawValue:))
        if let type, let t = s["condition"]?["threshold"], case .failure(let e) = type.threshold(t.scalar?.text ?? "") {
            d.error("spec.condition.threshold", e.description, at: t.mark)
        }
        if let type, !AlertScope.types.contains(type), let scope = s["condition"]?["scope"], scope.scalar?.text == AlertScope.overall.rawValue {
            d.error("spec.condition.scope", "overall is for errorRate and latency only; \(type.rawValue) has no scope", at: scope.mark)
        }
        if let m = s["message"], let text = m.scalar?.text {
            do throws(MessageTemplate.Invalid) {
                let template = try MessageTemplate(text)
                if let type {
                    let known = Set(type.placeholders)
                    for name in template.placeholders where !known.contains(name) {
                        d.error("spec.message", "unknown placeholder {{\(name)}} for condition \(type.rawValue); known: \(type.placeholders.joined(separator: ", "))", at: m.mark)
                    }
                }
            } catch {
                d.error("spec.message", error.description, at: m.mark)
            }
        }
        for p in s["labels"]?.mapping ?? [] {
            guard let name = p.key.scalar?.text else { continue }
            if !AlertRuleSpec.isLabelName(name) {
                d.error("spec.labels.\(name)", "not a label name (letters, digits and _, not starting with a digit)", at: p.key.mark)
            } else if AlertRuleSpec.reservedLabels.contains(name) {
                d.error("spec.labels.\(name)", "reserved: the engine sets \(name) on each alert", at: p.key.mark)
            }
        }
    }

    private static func contactPoint(_ s: Node, _ d: inout Diagnostics) {
        for p in s["headers"]?.mapping ?? [] {
            let name = p.key.scalar?.text ?? ""
            // A name with a colon, space or line break would write a second header line of its own.
            if !Values.isToken(name) {
                d.error("spec.headers", "\"\(name)\" is not a header name (an RFC 9110 token)", at: p.key.mark)
            } else if ContactPointSpec.reservedHeaders.contains(name.lowercased()) {
                d.error("spec.headers.\(name)", "set by Rampart itself (framing, body type or signature); not configurable", at: p.key.mark)
            }
        }
        if s.str("type") == "webhook", s["hmacSecret"] == nil {
            d.warning("spec.hmacSecret", "a webhook without hmacSecret is unsigned: its receiver cannot tell Rampart's notifications from anyone's", at: s.mark)
        }
        if s.str("type") != "webhook", let h = s["hmacSecret"] {
            d.warning("spec.hmacSecret", "only webhook contact points sign their body; it has no effect here", at: h.mark)
        }
    }

    /// Inline plaintext is allowed but flagged outside --dev; the warning never shows the value.
    private static func warnInlineSecrets(_ node: Node, _ schema: Schema, path: String, into d: inout Diagnostics) {
        switch schema {
        case .sensitive:
            if node["value"] != nil {
                d.warning(path, "inline plaintext secret; use secretRef or an encrypted value (`rampart encrypt`)", at: node.mark)
            }
        case .object(let fields):
            for f in fields { if let v = node[f.name] { warnInlineSecrets(v, f.schema, path: SchemaChecker.join(path, f.name), into: &d) } }
        case .array(let item, _):
            for (i, n) in (node.sequence ?? []).enumerated() { warnInlineSecrets(n, item, path: "\(path)[\(i)]", into: &d) }
        case .map(let value):
            for p in node.mapping ?? [] { warnInlineSecrets(p.value, value, path: SchemaChecker.join(path, p.key.scalar?.text ?? ""), into: &d) }
        default:
            break
        }
    }
}
