// A Kubernetes-API TEST STAND-IN — NOT a Kubernetes API server. No API server can be installed here, so this python
// server implements the wire rules of the Kubernetes "API Concepts" and "API Conventions" pages on 127.0.0.1: discovery,
// CRUD with optimistic concurrency, LIST with limit/continue, WATCH as a chunked stream with bookmarks, 410 Expired in
// both shapes, the status subresource, Table output from the CRDs' printer columns, bearer-token and client-certificate
// auth, faults on demand and a record of every call. It proves the wire format a client speaks and how it handles the
// answers, nothing about a real cluster: no protobuf, no server-side apply, no admission, a subset of CRD schema checks
// (status writes by default), no RBAC (the calls are recorded so that a test checks them against the Role instead).
import Foundation

let kubernetesStandInPythonSource = #"""
# k8s_standin.py: a Kubernetes-API TEST STAND-IN (NOT a Kubernetes API server), written from the
# Kubernetes "API Concepts" / "API Conventions" wire rules so that tests can drive it with the real kubectl
# and with Rampart's client. In memory, one global resourceVersion counter, JSON only (no protobuf, no
# server-side apply, no admission, a subset of CRD schema checks, no RBAC: calls are recorded so tests check RBAC).
# Options: --token T --token-user U --anonymous USER --tls-cert F --tls-key F --client-ca F --crds YAML
#          --bookmark-interval SECONDS --expired-shape status|event|alternate --schema-validation all|status|off
#          --port N (0: any; printed first)
# Test control (not Kubernetes API) under /_standin/, no credentials, answered only to 127.0.0.1:
#   GET calls | POST calls/reset | GET state (resourceVersion, compacted, open watches)
#   POST fail {path, status, count, retryAfter, method}: the next `count` matching requests get `status`
#   POST watch-fault {path, dropAfter, errorAfter, errorReason, splitLines, hugeEventBytes, count} | POST faults/reset
#   POST compact: resourceVersions before the current one expire | POST expired-shape {shape}
#   POST bookmark-interval {seconds} | POST tokens {token, user | remove} | POST schema-validation {mode}
import base64, bisect, copy, datetime, json, random, re, select, socket, ssl, sys, threading, time, traceback, uuid
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlsplit, parse_qs

opts = {"token": "", "token-user": "standin-user", "tls-cert": "", "tls-key": "", "client-ca": "", "crds": "",
        "bookmark-interval": "1", "expired-shape": "status", "port": "0", "anonymous": "",
        "schema-validation": "status"}
args = sys.argv[1:]
for i in range(0, len(args) - 1, 2):
    opts[args[i].lstrip("-")] = args[i + 1]

cond = threading.Condition()
tokens = {opts["token"]: opts["token-user"]} if opts["token"] else {}
settings = {"bookmark": float(opts["bookmark-interval"]), "shape": opts["expired-shape"], "alternate_next": "status",
            "schema": opts["schema-validation"]}
state = {"rv": 1, "compacted": 0, "watches": []}
store = {}            # (group, plural) -> {(namespace, name): object}
log = []              # events in resourceVersion order: {"rv", "type", "gk", "key", "obj", "prev"}
log_rvs = []          # log[i]["rv"], for bisect
calls = []
faults = []           # {"path", "status", "count", "retryAfter", "method"}
watch_faults = []     # {"path", "dropAfter", "errorAfter", "splitLines", "count"}
kinds = {}            # (group, version, plural) -> kind dict


class DropFault(Exception):
    pass


class ErrorFault(Exception):
    pass


def now_ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_kind(group, version, plural, kind, namespaced=True, status=False, generation=False, singular="",
             short=(), categories=(), columns=None, builtin=True, verbs=None):
    kinds[(group, version, plural)] = {
        "group": group, "version": version, "plural": plural, "kind": kind, "listKind": kind + "List",
        "namespaced": namespaced, "status": status, "generation": generation, "singular": singular or kind.lower(),
        "short": list(short), "categories": list(categories), "builtin": builtin,
        "verbs": verbs or ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "columns": columns if columns is not None else [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}
    store.setdefault((group, plural), {})


add_kind("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"],
         columns=[{"name": "Status", "type": "string", "jsonPath": ".status.phase"},
                  {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])
add_kind("", "v1", "secrets", "Secret",
         columns=[{"name": "Type", "type": "string", "jsonPath": ".type"},
                  {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])
add_kind("", "v1", "services", "Service", short=["svc"],
         columns=[{"name": "Type", "type": "string", "jsonPath": ".spec.type"},
                  {"name": "Cluster-IP", "type": "string", "jsonPath": ".spec.clusterIP"},
                  {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])
add_kind("", "v1", "configmaps", "ConfigMap", short=["cm"])
add_kind("", "v1", "events", "Event", short=["ev"],
         columns=[{"name": "Type", "type": "string", "jsonPath": ".type"},
                  {"name": "Reason", "type": "string", "jsonPath": ".reason"},
                  {"name": "Object", "type": "string", "jsonPath": ".involvedObject.name"},
                  {"name": "Message", "type": "string", "jsonPath": ".message"}])
add_kind("events.k8s.io", "v1", "events", "Event", short=["ev"])
add_kind("coordination.k8s.io", "v1", "leases", "Lease",
         columns=[{"name": "Holder", "type": "string", "jsonPath": ".spec.holderIdentity"},
                  {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])
add_kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", generation=True,
         columns=[{"name": "AddressType", "type": "string", "jsonPath": ".addressType"},
                  {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])
add_kind("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False,
         status=True, generation=True, short=["crd", "crds"],
         columns=[{"name": "Created At", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])


# ---------------------------------------------------------------- CRDs drive the custom kinds
def register_crd(crd):
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind):
        return
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        cols = [{k: c[k] for k in ("name", "type", "jsonPath", "description", "priority", "format") if k in c}
                for c in (v.get("additionalPrinterColumns") or [])]
        if not cols:
            cols = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        add_kind(group, v["name"], plural, kind, namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                 status="status" in (v.get("subresources") or {}), generation=True, singular=names.get("singular", ""),
                 short=names.get("shortNames", []), categories=names.get("categories", []), columns=cols, builtin=False)
        kinds[(group, v["name"], plural)]["listKind"] = names.get("listKind", kind + "List")
        kinds[(group, v["name"], plural)]["schema"] = (v.get("schema") or {}).get("openAPIV3Schema")


def unregister_crd(crd):
    spec = crd.get("spec") or {}
    group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
    for key in [k for k in kinds if k[0] == group and k[2] == plural]:
        del kinds[key]
    store.pop((group, plural), None)


# ---------------------------------------------------------------- helpers: status objects, selectors, jsonpath
def status_obj(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class APIError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.status = status_obj(code, reason, message, details)
        self.headers = headers or {}


def qualified(kind):
    return kind["plural"] + ("." + kind["group"] if kind["group"] else "")


def not_found(kind, name):
    return APIError(404, "NotFound", '%s "%s" not found' % (qualified(kind), name),
                    {"name": name, "group": kind["group"], "kind": kind["plural"]})


def conflict(kind, name):
    return APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                    'please apply your changes to the latest version and try again' % (qualified(kind), name),
                    {"name": name, "group": kind["group"], "kind": kind["plural"]})


def invalid(kind, name, field, why):
    return APIError(422, "Invalid", '%s "%s" is invalid: %s: %s' % (kind["kind"], name, field, why),
                    {"name": name, "group": kind["group"], "kind": kind["kind"],
                     "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}]})


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(sel):
    reqs = []
    for term in split_top(sel or ""):
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", term)
        if m:
            reqs.append((m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!", None))
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            reqs.append((term, "exists", None))
        else:
            raise APIError(400, "BadRequest", "unable to parse requirement: %s" % term)
    return reqs


def labels_match(reqs, obj):
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    for k, op, v in reqs:
        have = labels.get(k)
        if op == "=" and have != v: return False
        if op == "!=" and have == v: return False
        if op == "in" and have not in v: return False
        if op == "notin" and have in v: return False
        if op == "exists" and k not in labels: return False
        if op == "!" and k in labels: return False
    return True


def parse_field_selector(sel):
    reqs = []
    for term in split_top(sel or ""):
        m = re.match(r"^([^!=]+)(==|!=|=)(.*)$", term)
        if not m:
            raise APIError(400, "BadRequest", "invalid selector: '%s'; can't understand '%s'" % (sel, term))
        field = m.group(1).strip()
        if field not in ("metadata.name", "metadata.namespace"):
            raise APIError(400, "BadRequest", 'field label not supported: %s' % field)
        reqs.append((field, m.group(2) != "!=", m.group(3).strip()))
    return reqs


def fields_match(reqs, obj):
    md = (obj or {}).get("metadata") or {}
    for field, equal, v in reqs:
        have = md.get(field.split(".", 1)[1], "")
        if (have == v) != equal:
            return False
    return True


def jsonpath_steps(path):
    steps, i = [], 0
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    while i < len(path):
        if path[i] == ".":
            m = re.match(r"\.([A-Za-z0-9_\-]+)", path[i:])
            if not m:
                return None
            steps.append(("field", m.group(1)))
            i += m.end()
        elif path[i] == "[":
            end = path.find("]", i)
            if end < 0:
                return None
            inner = path[i + 1:end]
            m = re.match(r'^\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["\']([^"\']*)["\']\)$', inner)
            if m:
                steps.append(("filter", m.group(1).split("."), m.group(2)))
            elif inner == "*":
                steps.append(("all",))
            elif re.match(r"^-?\d+$", inner):
                steps.append(("index", int(inner)))
            else:
                return None
            i = end + 1
        else:
            return None
    return steps


def jsonpath_find(obj, path):
    steps = jsonpath_steps(path)
    if steps is None:
        return []
    cur = [obj]
    for st in steps:
        nxt = []
        for v in cur:
            if st[0] == "field" and isinstance(v, dict) and st[1] in v:
                nxt.append(v[st[1]])
            elif st[0] == "index" and isinstance(v, list) and -len(v) <= st[1] < len(v):
                nxt.append(v[st[1]])
            elif st[0] == "all" and isinstance(v, (list, dict)):
                nxt.extend(v if isinstance(v, list) else v.values())
            elif st[0] == "filter" and isinstance(v, list):
                for item in v:
                    x = item
                    for f in st[1]:
                        x = x.get(f) if isinstance(x, dict) else None
                    if x is not None and str(x) == st[2]:
                        nxt.append(item)
        cur = nxt
    return cur


def human_duration(seconds):
    s = int(seconds)
    if s < -1: return "<invalid>"
    if s < 0: return "0s"
    if s < 120: return "%ds" % s
    m = s // 60
    if m < 10: return "%dm" % m if s % 60 == 0 else "%dm%ds" % (m, s % 60)
    if m < 180: return "%dm" % m
    h = s // 3600
    if h < 8: return "%dh" % h if m % 60 == 0 else "%dh%dm" % (h, m % 60)
    if h < 48: return "%dh" % h
    if h < 192: return "%dd" % (h // 24) if h % 24 == 0 else "%dd%dh" % (h // 24, h % 24)
    if h < 24 * 365 * 2: return "%dd" % (h // 24)
    return "%dy" % (h // (24 * 365))


def cell(column, obj):
    found = jsonpath_find(obj, column.get("jsonPath", ""))
    if not found:
        return None
    value = found[0]
    ctype = column.get("type", "string")
    if ctype == "date":
        try:
            t = datetime.datetime.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return "<invalid>"
        return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if ctype == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return value


def table(kind, objs, list_meta, include):
    cols = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."}]
    for c in kind["columns"]:
        cols.append({"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": c.get("priority", 0)})
    rows = []
    for o in objs:
        row = {"cells": [o["metadata"].get("name", "")] + [cell(c, o) for c in kind["columns"]]}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": cols, "rows": rows}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strip_directives(patch):
    # Strategic-merge-patch for built-in kinds is applied as a merge patch: the stand-in drops the $-directives
    # (lists are replaced, not merged by key). Enough for the fields tests touch.
    if isinstance(patch, dict):
        return {k: strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_directives(v) for v in patch]
    return patch


def json_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise APIError(422, "Invalid", "invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise APIError(400, "BadRequest", "json patch must be a list of operations")
    for op in ops:
        parts = json_pointer(op.get("path", ""))
        if not parts:
            raise APIError(422, "Invalid", "json patch on the whole document is not supported")
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.get(p) if isinstance(parent, dict) else None
            if parent is None:
                raise APIError(422, "Invalid", "doc is missing path: %s" % op.get("path"))
        last, kindop = parts[-1], op.get("op")
        try:
            if kindop == "test":
                cur = parent[int(last)] if isinstance(parent, list) else parent[last]
                if cur != op.get("value"):
                    raise APIError(422, "Invalid", "testing value %s failed" % op.get("path"))
            elif kindop in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-": parent.append(op.get("value"))
                    elif kindop == "add": parent.insert(int(last), op.get("value"))
                    else: parent[int(last)] = op.get("value")
                else:
                    if kindop == "replace" and last not in parent:
                        raise APIError(422, "Invalid", "doc is missing key: %s" % op.get("path"))
                    parent[last] = op.get("value")
            elif kindop == "remove":
                if isinstance(parent, list): del parent[int(last)]
                else: del parent[last]
            else:
                raise APIError(422, "Invalid", "unsupported json patch op %r" % kindop)
        except (KeyError, IndexError, ValueError, TypeError):
            raise APIError(422, "Invalid", "doc is missing path: %s" % op.get("path"))
    return doc



# ---------------------------------------------------------------- structural schema: defaults, pruning, validation
# The API server checks a custom resource against its CRD's openAPIV3Schema on every write: it fills in defaults,
# drops fields the schema does not know (an error with fieldValidation=Strict) and rejects values of the wrong
# type, outside enum/pattern/bounds, or duplicate keys of a map-list. This subset covers what the rampart CRDs use.
# Mode "status" (the default) checks status writes only: what a controller writes; "all" checks every write.
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
PATTERNS = {}


def json_type(value):
    if value is None: return "null"
    if isinstance(value, bool): return "boolean"
    if isinstance(value, int): return "integer"
    if isinstance(value, float): return "number"
    if isinstance(value, str): return "string"
    if isinstance(value, list): return "array"
    return "object"


def show(value):
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else '"%s"' % value


def structural(schema, value, path, errors, pruned):
    if not isinstance(schema, dict):
        return value
    if value is None:
        if not schema.get("nullable"):
            errors.append((path, 'Invalid value: "null": %s in body must be of type %s: "null"' % (path, schema.get("type", "object"))))
        return value
    if schema.get("x-kubernetes-int-or-string"):
        if json_type(value) not in ("integer", "string"):
            errors.append((path, 'Invalid value: "%s": %s in body must be of type integer,string: "%s"' % (json_type(value), path, json_type(value))))
        return value
    want = schema.get("type")
    have = json_type(value)
    if want and not (have == want or (want == "number" and have == "integer")
                     or (want == "integer" and have == "number" and float(value).is_integer())):
        errors.append((path, 'Invalid value: "%s": %s in body must be of type %s: "%s"' % (have, path, want, have)))
        return value
    if "enum" in schema and value not in schema["enum"]:
        errors.append((path, "Unsupported value: %s: supported values: %s" % (show(value), ", ".join(show(v) for v in schema["enum"]))))
    if have == "object":
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        out = {}
        for k, v in value.items():
            if k in props:
                out[k] = v
            elif isinstance(extra, dict) or keep:
                out[k] = v
            else:
                pruned.append(path + "." + k)
        for k, sub in props.items():
            if k not in out and isinstance(sub, dict) and "default" in sub:
                out[k] = copy.deepcopy(sub["default"])
        for k in list(out):
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                out[k] = structural(sub, out[k], path + "." + k, errors, pruned)
        for k in schema.get("required") or []:
            if k not in out:
                errors.append((path + "." + k, "Required value"))
        if "maxProperties" in schema and len(out) > schema["maxProperties"]:
            errors.append((path, "Too many: %d: must have at most %d items" % (len(out), schema["maxProperties"])))
        return out
    if have == "array":
        items = schema.get("items")
        out = [structural(items, v, "%s[%d]" % (path, i), errors, pruned) for i, v in enumerate(value)]
        if "maxItems" in schema and len(out) > schema["maxItems"]:
            errors.append((path, "Too many: %d: must have at most %d items" % (len(out), schema["maxItems"])))
        if "minItems" in schema and len(out) < schema["minItems"]:
            errors.append((path, "Invalid value: %d: %s in body should have at least %d items" % (len(out), path, schema["minItems"])))
        list_type = schema.get("x-kubernetes-list-type")
        seen = set()
        for i, v in enumerate(out):
            if list_type == "map" and isinstance(v, dict):
                key = json.dumps({k: v.get(k) for k in schema.get("x-kubernetes-list-map-keys") or []}, sort_keys=True)
            elif list_type == "set":
                key = json.dumps(v, sort_keys=True)
            else:
                continue
            if key in seen:
                errors.append(("%s[%d]" % (path, i), "Duplicate value: %s" % key))
            seen.add(key)
        return out
    if have == "string":
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, "Too long: may not be more than %d bytes" % schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, "Invalid value: %s: %s in body should be at least %d chars long" % (show(value), path, schema["minLength"])))
        pattern = schema.get("pattern")
        if pattern:
            if pattern not in PATTERNS:
                try: PATTERNS[pattern] = re.compile(pattern)
                except re.error: PATTERNS[pattern] = None
            if PATTERNS[pattern] is not None and not PATTERNS[pattern].search(value):
                errors.append((path, "Invalid value: %s: %s in body should match '%s'" % (show(value), path, pattern)))
        if schema.get("format") == "date-time" and not DATE_TIME.match(value):
            errors.append((path, "Invalid value: %s: %s in body must be of type date-time: %s" % (show(value), path, show(value))))
    if have in ("integer", "number"):
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, "Invalid value: %s: %s in body should be less than or equal to %s" % (value, path, schema["maximum"])))
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, "Invalid value: %s: %s in body should be greater than or equal to %s" % (value, path, schema["minimum"])))
    return value


def check_schema(kind, obj, parts, strict, warnings):
    """Defaults, prunes and validates the top-level fields `parts` (e.g. spec, status) of a custom resource."""
    schema = kind.get("schema")
    if not schema:
        return obj
    props = schema.get("properties") or {}
    errors, pruned = [], []
    for field in list(obj):
        if field in ("apiVersion", "kind", "metadata"):
            continue
        if field not in props and not schema.get("x-kubernetes-preserve-unknown-fields"):
            if field in parts:
                pruned.append("." + field)
                del obj[field]
            continue
        if field in parts:
            obj[field] = structural(props[field], obj[field], field, errors, pruned)
    for field in schema.get("required") or []:
        if field in parts and field not in obj:
            errors.append((field, "Required value"))
    name = (obj.get("metadata") or {}).get("name", "")
    if pruned and strict:
        raise APIError(400, "BadRequest", '%s in version "%s" cannot be handled as a %s: strict decoding error: %s' % (
            kind["kind"], kind["version"], kind["kind"], ", ".join('unknown field "%s"' % p.lstrip(".") for p in pruned)))
    warnings.extend('unknown field "%s"' % p.lstrip(".") for p in pruned)
    if errors:
        text = "; ".join("%s: %s" % e for e in errors) if len(errors) == 1 else "[" + ", ".join("%s: %s" % e for e in errors) + "]"
        raise APIError(422, "Invalid", '%s.%s "%s" is invalid: %s' % (kind["kind"], kind["group"], name, text),
                       {"name": name, "group": kind["group"], "kind": kind["kind"],
                        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in errors]})
    return obj

# ---------------------------------------------------------------- the store (callers hold cond)
def next_rv():
    state["rv"] += 1
    return state["rv"]


def append_event(etype, gk, key, obj, prev):
    rv = int(obj["metadata"]["resourceVersion"])
    log.append({"rv": rv, "type": etype, "gk": gk, "key": key, "obj": copy.deepcopy(obj),
                "prev": copy.deepcopy(prev) if prev is not None else None})
    log_rvs.append(rv)
    cond.notify_all()


def snapshot(gk, at_rv):
    """The objects of gk as they were at resourceVersion at_rv (undoing later events)."""
    objs = {k: v for k, v in store.get(gk, {}).items()}
    idx = bisect.bisect_right(log_rvs, at_rv)
    for ev in reversed(log[idx:]):
        if ev["gk"] != gk:
            continue
        if ev["prev"] is None:
            objs.pop(ev["key"], None)
        else:
            objs[ev["key"]] = ev["prev"]
    return objs


def spec_part(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_secret(obj):
    if obj.get("kind") != "Secret":
        return
    data = obj.get("data") or {}
    for k, v in (data or {}).items():
        try:
            base64.b64decode(v, validate=True)
        except Exception:
            raise APIError(400, "BadRequest", "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data "
                           "at input byte 0 (key %s)" % k)
    for k, v in (obj.pop("stringData", None) or {}).items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    if data:
        obj["data"] = data
    obj.setdefault("type", "Opaque")


def gen_name(prefix):
    return prefix + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


RESOURCE_PATH = re.compile(r"^/(api/v1|apis/[^/]+/[^/]+)/[^/]+")
MAX_BODY = 3 * 1024 * 1024     # the API server's request body limit
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def create(kind, ns, body, dry, strict=False, warnings=None):
    gk = (kind["group"], kind["plural"])
    md = body.setdefault("metadata", {})
    if not isinstance(md, dict):
        raise APIError(400, "BadRequest", "metadata must be an object")
    if kind["namespaced"]:
        if md.get("namespace") and md["namespace"] != ns:
            raise APIError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        md["namespace"] = ns
    else:
        md.pop("namespace", None)
    if not md.get("name"):
        if md.get("generateName"):
            md["name"] = gen_name(md["generateName"])
        else:
            raise invalid(kind, "", "metadata.name", "Required value: name or generateName is required")
    name = md["name"]
    if len(name) > 253 or not NAME_RE.match(name):
        raise invalid(kind, name, "metadata.name", "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower case "
                      "alphanumeric characters, '-' or '.'" % name)
    body["apiVersion"] = (kind["group"] + "/" if kind["group"] else "") + kind["version"]
    body["kind"] = kind["kind"]
    prepare_secret(body)
    if kind["status"] and kind["builtin"] is False:
        body.pop("status", None)
    if kind["kind"] == "Namespace":
        body.setdefault("status", {"phase": "Active"})
    if not kind["builtin"] and settings["schema"] == "all":
        body = check_schema(kind, body, set(body) - {"apiVersion", "kind", "metadata"}, strict,
                            warnings if warnings is not None else [])
    for f in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "managedFields", "generation", "selfLink"):
        md.pop(f, None)
    key = (md.get("namespace", ""), name)
    if key in store[gk]:
        raise APIError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(kind), name),
                       {"name": name, "group": kind["group"], "kind": kind["plural"]})
    md["uid"] = str(uuid.uuid4())
    md["creationTimestamp"] = now_ts()
    if kind["generation"]:
        md["generation"] = 1
    if dry:
        md["resourceVersion"] = ""
        return body
    md["resourceVersion"] = str(next_rv())
    store[gk][key] = body
    if kind["kind"] == "CustomResourceDefinition":
        register_crd(body)
        body["status"] = {"conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                          "message": "the initial names have been accepted", "lastTransitionTime": now_ts()}],
                          "acceptedNames": (body.get("spec") or {}).get("names", {}), "storedVersions": [
                              v["name"] for v in (body.get("spec") or {}).get("versions", []) if v.get("storage")]}
    append_event("ADDED", gk, key, body, None)
    return body


def write(kind, ns, name, new, sub, dry, check_rv=True, strict=False, warnings=None):
    """An update of the whole object (PUT, or PATCH after the patch was applied)."""
    gk = (kind["group"], kind["plural"])
    key = (ns if kind["namespaced"] else "", name)
    old = store[gk].get(key)
    if old is None:
        raise not_found(kind, name)
    if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
        raise APIError(400, "BadRequest", "the body must be a JSON object with metadata")
    md = new.setdefault("metadata", {})
    if md.get("name") and md["name"] != name:
        raise APIError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)" % (md["name"], name))
    if kind["namespaced"] and md.get("namespace") and md["namespace"] != ns:
        raise APIError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
    sent_rv = md.get("resourceVersion") or ""
    if check_rv:
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind, name)
        if not sent_rv and not kind["builtin"]:
            raise invalid(kind, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")
    if sub == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
    else:
        result = copy.deepcopy(new)
        prepare_secret(result)
        if kind["status"]:
            if "status" in old:
                result["status"] = copy.deepcopy(old["status"])
            else:
                result.pop("status", None)
        rmd = result["metadata"]
        for f in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace"):
            if f in old["metadata"]:
                rmd[f] = old["metadata"][f]
            else:
                rmd.pop(f, None)
        rmd["name"] = name
        result["apiVersion"], result["kind"] = old["apiVersion"], old["kind"]
        if kind["generation"] and spec_part(result) != spec_part(old):
            rmd["generation"] = int(old["metadata"].get("generation", 1)) + 1
    if not kind["builtin"] and (settings["schema"] == "all" or (settings["schema"] == "status" and sub == "status")):
        parts = {"status"} if sub == "status" else set(result) - {"apiVersion", "kind", "metadata"} - ({"status"} if kind["status"] else set())
        result = check_schema(kind, result, parts, strict, warnings if warnings is not None else [])
    result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    if result == old:
        return old        # a no-op write does not change the resourceVersion, as on a real server
    if dry:
        return result
    result["metadata"]["resourceVersion"] = str(next_rv())
    if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
        del store[gk][key]
        append_event("DELETED", gk, key, result, old)
        return result
    store[gk][key] = result
    if kind["kind"] == "CustomResourceDefinition":
        register_crd(result)
    append_event("MODIFIED", gk, key, result, old)
    return result


def delete(kind, ns, name, options, dry):
    gk = (kind["group"], kind["plural"])
    key = (ns if kind["namespaced"] else "", name)
    old = store[gk].get(key)
    if old is None:
        raise not_found(kind, name)
    pre = (options or {}).get("preconditions") or {}
    if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
        raise conflict(kind, name)
    if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
        raise conflict(kind, name)
    if dry:
        return old
    result = copy.deepcopy(old)
    result["metadata"]["resourceVersion"] = str(next_rv())
    if old["metadata"].get("finalizers"):
        if old["metadata"].get("deletionTimestamp"):
            return old
        result["metadata"]["deletionTimestamp"] = now_ts()
        result["metadata"]["deletionGracePeriodSeconds"] = 0
        store[gk][key] = result
        append_event("MODIFIED", gk, key, result, old)
        return result
    del store[gk][key]
    if kind["kind"] == "CustomResourceDefinition":
        unregister_crd(old)
    append_event("DELETED", gk, key, result, old)
    return result


# ---------------------------------------------------------------- HTTP
def group_version(kind):
    return (kind["group"] + "/" if kind["group"] else "") + kind["version"]


def resource_list(group, version):
    res = []
    for k in sorted(kinds.values(), key=lambda k: k["plural"]):
        if k["group"] != group or k["version"] != version:
            continue
        r = {"name": k["plural"], "singularName": k["singular"], "namespaced": k["namespaced"], "kind": k["kind"],
             "verbs": k["verbs"]}
        if k["short"]: r["shortNames"] = k["short"]
        if k["categories"]: r["categories"] = k["categories"]
        res.append(r)
        if k["status"]:
            res.append({"name": k["plural"] + "/status", "singularName": "", "namespaced": k["namespaced"],
                        "kind": k["kind"], "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": (group + "/" if group else "") + version,
            "resources": res}


def groups():
    out = {}
    for k in kinds.values():
        if k["group"]:
            out.setdefault(k["group"], [])
            if k["version"] not in out[k["group"]]:
                out[k["group"]].append(k["version"])
    return out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    context = None

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, in the connection's own thread, so a slow client cannot stall accept().
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no Nagle delay between head and body
        except OSError:
            pass
        if self.context is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(10)
            tls = self.context.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try: tls.close()
            except OSError: pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass

    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_PUT(self): self.handle_any("PUT")
    def do_PATCH(self): self.handle_any("PATCH")
    def do_DELETE(self): self.handle_any("DELETE")

    def reply(self, code, obj, headers=None):
        data = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers.items() if isinstance(headers, dict) else headers or []):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def raw_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    self.close_connection = True
                    raise APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d" % MAX_BODY)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d" % MAX_BODY)
        return self.rfile.read(n) if n else b""

    def json_body(self):
        raw = self.raw_body()
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        if "protobuf" in ctype or "cbor" in ctype:
            raise APIError(415, "UnsupportedMediaType", "the stand-in accepts JSON only (got %s); send Content-Type: "
                           "application/json" % ctype)
        if not raw:
            return ctype, None
        try:
            return ctype, json.loads(raw)
        except ValueError as e:
            raise APIError(400, "BadRequest", "the body of the request is not valid JSON: %s" % e)

    def user(self):
        try:
            cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        except (ValueError, OSError):
            cert = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        auth = self.headers.get("Authorization")
        if auth is None:
            # kubectl sends no bearer token over plain http; in that mode the stand-in (like an API server with
            # anonymous auth) takes a request without credentials as the anonymous user, when told to.
            return opts["anonymous"] or None
        scheme, _, credential = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and credential.strip():     # the scheme is case-insensitive, as in the API server
            with cond:
                return tokens.get(credential.strip())
        return None

    def handle_any(self, method):
        try:
            self.route(method)
        except APIError as e:
            try: self.reply(e.status["code"], e.status, e.headers)
            except OSError: pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # a stand-in bug shows as a 500 Status (and a traceback in its log), never as a hang
            traceback.print_exc()
            try: self.reply(500, status_obj(500, "InternalError", "stand-in error: %r" % e))
            except OSError: pass

    def check_faults(self, path, method):
        with cond:
            for f in faults:
                if f["count"] != 0 and f["path"] in path and (not f.get("method") or f["method"] == method):
                    if f["count"] > 0:
                        f["count"] -= 1
                    if f["status"] == 429:
                        raise APIError(429, "TooManyRequests", "Too many requests, please try again later.",
                                       {"retryAfterSeconds": f.get("retryAfter", 1)}, {"Retry-After": str(f.get("retryAfter", 1))})
                    hdr = {"Retry-After": str(f["retryAfter"])} if f.get("retryAfter") else {}
                    raise APIError(f["status"], "InternalError", "Internal error occurred: stand-in fault", None, hdr)

    def route(self, method):
        url = urlsplit(self.path)
        path, q = url.path, {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if path.startswith("/_standin/"):
            if self.client_address[0] != "127.0.0.1":
                raise APIError(403, "Forbidden", "stand-in control is loopback only")
            return self.control(method, path[len("/_standin/"):])
        user = self.user()
        if user is None:
            raise APIError(401, "Unauthorized", "Unauthorized")
        if not RESOURCE_PATH.match(path):
            self.check_faults(path, method)
        if method == "GET" and path in ("/healthz", "/readyz", "/livez"):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            return self.wfile.write(body)
        if method == "GET" and path == "/version":
            return self.reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-rampart-standin", "gitCommit": "",
                                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                                    "compiler": "gc", "platform": "linux/amd64"})
        if method == "GET" and path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % self.server.server_address[1]}]})
        if method == "GET" and path == "/apis":
            with cond:
                gs = groups()
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": g + "/" + v, "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": g + "/" + vs[0], "version": vs[0]}} for g, vs in sorted(gs.items())]})
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        elif len(parts) == 2 and parts[0] == "apis":
            with cond:
                vs = groups().get(parts[1])
            if not vs:
                raise APIError(404, "NotFound", "the server could not find the requested resource")
            return self.reply(200, {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1],
                                    "versions": [{"groupVersion": parts[1] + "/" + v, "version": v} for v in vs],
                                    "preferredVersion": {"groupVersion": parts[1] + "/" + vs[0], "version": vs[0]}})
        else:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        with cond:
            if not rest:
                if method != "GET" or not any(k[0] == group and k[1] == version for k in kinds):
                    raise APIError(404, "NotFound", "the server could not find the requested resource")
                return self.reply(200, resource_list(group, version))
            ns = ""
            if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in kinds \
                    and kinds[(group, version, rest[2])]["namespaced"]:
                ns, rest = rest[1], rest[2:]
            kind = kinds.get((group, version, rest[0]))
            if kind is None or len(rest) > 3:
                raise APIError(404, "NotFound", "the server could not find the requested resource")
            name = rest[1] if len(rest) >= 2 else ""
            sub = rest[2] if len(rest) == 3 else ""
            if sub and (sub != "status" or not kind["status"]):
                raise APIError(404, "NotFound", "the server could not find the requested resource")
            watch = q.get("watch") in ("1", "true")
            verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create", "PUT": "update",
                    "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}[method]
            # Recorded before faults apply: a call that then fails was still made (and authorized, on a real server).
            calls.append({"verb": verb, "group": group, "version": version, "resource": kind["plural"], "subresource": sub,
                          "namespace": ns, "name": name, "user": user})
        self.check_faults(path, method)
        if verb == "watch":
            return self.watch(kind, ns, name, q, path)
        if name == "" and method not in ("GET", "POST"):
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if name and method == "POST":
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if kind["namespaced"] and not ns and method != "GET":
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if kind["namespaced"] and not ns and name:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        dry = q.get("dryRun") == "All"
        strict = q.get("fieldValidation") == "Strict"
        warnings = []
        quiet = q.get("fieldValidation") == "Ignore"

        def warned():
            return [] if quiet else [("Warning", '299 - "%s"' % w.replace('"', '\\"')) for w in warnings]
        accept = self.headers.get("Accept") or ""
        as_table = "as=Table" in accept
        if method == "GET" and name:
            with cond:
                obj = copy.deepcopy(store[(kind["group"], kind["plural"])].get((ns, name)))
            if obj is None:
                raise not_found(kind, name)
            if as_table:
                return self.reply(200, table(kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                             q.get("includeObject", "Metadata")))
            return self.reply(200, obj)
        if method == "GET":
            return self.list(kind, ns, q, as_table)
        ctype, body = self.json_body()
        if method == "POST":
            if not isinstance(body, dict):
                raise APIError(400, "BadRequest", "the body must be a JSON object")
            if body.get("kind") not in (None, kind["kind"]) or body.get("apiVersion") not in (None, group_version(kind)):
                raise APIError(400, "BadRequest", "the API version in the data (%s) does not match the expected API version (%s)"
                               % (body.get("apiVersion"), group_version(kind)))
            with cond:
                obj = create(kind, ns, body, dry, strict, warnings)
            return self.reply(201, obj, warned())
        if method == "PUT":
            with cond:
                obj = write(kind, ns, name, body, sub, dry, True, strict, warnings)
            return self.reply(200, obj, warned())
        if method == "PATCH":
            with cond:
                cur = store[(kind["group"], kind["plural"])].get((ns, name))
                if cur is None:
                    raise not_found(kind, name)
                if ctype == "application/merge-patch+json":
                    patched = merge_patch(cur, body)
                elif ctype == "application/strategic-merge-patch+json":
                    if not kind["builtin"]:
                        raise APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                       "accepted media types include: application/json-patch+json, application/merge-patch+json, "
                                       "application/apply-patch+yaml")
                    patched = merge_patch(cur, strip_directives(body))
                elif ctype == "application/json-patch+json":
                    patched = json_patch(cur, body)
                else:
                    raise APIError(415, "UnsupportedMediaType", "the stand-in does not implement patch type %s" % ctype)
                wanted = ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
                if wanted and wanted != cur["metadata"]["resourceVersion"]:
                    raise conflict(kind, name)
                patched.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
                obj = write(kind, ns, name, patched, sub, dry, False, strict, warnings)
            return self.reply(200, obj, warned())
        if method == "DELETE":
            with cond:
                obj = delete(kind, ns, name, body if isinstance(body, dict) else None, dry)
            return self.reply(200, obj)
        raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def list(self, kind, ns, q, as_table):
        gk = (kind["group"], kind["plural"])
        lsel = parse_label_selector(q.get("labelSelector"))
        fsel = parse_field_selector(q.get("fieldSelector"))
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise APIError(400, "BadRequest", "limit must be an integer")
        with cond:
            start = None
            at = state["rv"]
            if q.get("continue"):
                try:
                    tok = json.loads(base64.urlsafe_b64decode(q["continue"].encode()))
                    at, start = int(tok["rv"]), tuple(tok["start"])
                except Exception:
                    raise APIError(400, "BadRequest", "continue key is not valid")
                if at < state["compacted"]:
                    raise APIError(410, "Expired", "The provided continue parameter is too old to display a consistent list "
                                   "result. You can start a new list without the continue parameter.")
            elif q.get("resourceVersion") not in (None, "", "0") and q.get("resourceVersionMatch") == "Exact":
                try:
                    at = int(q["resourceVersion"])
                except ValueError:
                    raise APIError(400, "BadRequest", "resourceVersion must be a resource version")
                if at < state["compacted"]:
                    raise APIError(410, "Expired", "too old resource version: %d (%d)" % (at, state["compacted"]))
            objs = snapshot(gk, at) if at != state["rv"] else store.get(gk, {})
            keys = sorted(k for k in objs if (not ns or k[0] == ns) and (start is None or k > start))
            items, more, last = [], 0, None
            for k in keys:
                o = objs[k]
                if not labels_match(lsel, o) or not fields_match(fsel, o):
                    continue
                if limit and len(items) >= limit:
                    more += 1
                    continue
                items.append(copy.deepcopy(o))
                last = k
        meta = {"resourceVersion": str(at)}
        if more:
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": at, "start": list(last)}).encode()).decode()
            if not lsel and not fsel:
                meta["remainingItemCount"] = more
        if as_table:
            return self.reply(200, table(kind, items, meta, q.get("includeObject", "Metadata")))
        if kind["builtin"]:
            for o in items:    # typed lists of built-in kinds carry no kind/apiVersion per item
                o.pop("kind", None)
                o.pop("apiVersion", None)
        return self.reply(200, {"kind": kind["listKind"], "apiVersion": group_version(kind), "metadata": meta, "items": items})

    # ------------------------------------------------------------ watch
    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def send_event(self, etype, obj, split):
        line = json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"
        if split and split > 1 and len(line) > split:
            step = max(1, len(line) // split)
            for i in range(0, len(line), step):
                self.chunk(line[i:i + step])
                time.sleep(0.02)
        else:
            self.chunk(line)

    def client_gone(self):
        # A watcher sends nothing after its request: a readable socket means EOF (or a TLS close), so the watch ends
        # and no longer counts as open.
        try:
            readable = select.select([self.connection], [], [], 0)[0]
            if not readable:
                return False
            if isinstance(self.connection, ssl.SSLSocket):
                return True
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def watch(self, kind, ns, name, q, path):
        gk = (kind["group"], kind["plural"])
        lsel = parse_label_selector(q.get("labelSelector"))
        fsel = parse_field_selector(q.get("fieldSelector"))
        if name:
            fsel.append(("metadata.name", True, name))
        try:
            timeout = float(q.get("timeoutSeconds") or 1800)
        except ValueError:
            raise APIError(400, "BadRequest", "timeoutSeconds must be a number")
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        rv_param = q.get("resourceVersion") or ""
        as_table = "as=Table" in (self.headers.get("Accept") or "")
        include = q.get("includeObject", "Metadata")
        initial_events = q.get("sendInitialEvents") == "true"
        if initial_events and (q.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            raise invalid(kind, "", "sendInitialEvents", "Forbidden: sendInitialEvents requires setting "
                          "resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true")
        fault = {}
        with cond:
            for f in watch_faults:
                if f["count"] != 0 and f["path"] in path:
                    if f["count"] > 0:
                        f["count"] -= 1
                    fault = dict(f)
                    break
            initial = []
            if rv_param in ("", "0") or initial_events:
                cursor = state["rv"]
                initial = [copy.deepcopy(o) for k, o in sorted(store.get(gk, {}).items())
                           if (not ns or k[0] == ns) and labels_match(lsel, o) and fields_match(fsel, o)]
            else:
                try:
                    cursor = int(rv_param)
                except ValueError:
                    raise APIError(400, "BadRequest", "resourceVersion %r is not a valid resource version" % rv_param)
                if cursor < state["compacted"]:
                    shape = settings["shape"]
                    if shape == "alternate":
                        shape = settings["alternate_next"]
                        settings["alternate_next"] = "event" if shape == "status" else "status"
                    expired = status_obj(410, "Expired", "too old resource version: %s (%d)" % (rv_param, state["compacted"]))
                    if shape == "status":
                        raise APIError(410, "Expired", expired["message"])
                    initial = None
            me = {"path": path, "started": time.time()}
            state["watches"].append(me)

        def shown(obj):
            if not as_table:
                return obj
            return table(kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include)

        def bookmark(rv, annotations=None):
            md = {"resourceVersion": str(rv)}
            if annotations:
                md["annotations"] = annotations
            return {"kind": kind["kind"], "apiVersion": group_version(kind), "metadata": md}

        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            if initial is None:
                self.send_event("ERROR", expired, 0)
                self.chunk(b"")
                return
            sent = 0
            split = int(fault.get("splitLines") or 0)
            drop_after = fault.get("dropAfter")
            error_after = fault.get("errorAfter")

            def counted():
                nonlocal sent
                sent += 1
                if drop_after is not None and sent >= int(drop_after):
                    raise DropFault()
                if error_after is not None and sent >= int(error_after):
                    raise ErrorFault()

            deadline = time.time() + timeout
            last_bookmark = time.time()
            try:
                if drop_after is not None and int(drop_after) == 0:
                    raise DropFault()
                if error_after is not None and int(error_after) == 0:
                    raise ErrorFault()
                if fault.get("hugeEventBytes"):
                    huge = bookmark(cursor, {"rampart.io/padding": "x" * int(fault["hugeEventBytes"])})
                    huge["metadata"].update({"name": "huge", "namespace": ns or "default", "uid": str(uuid.uuid4())})
                    self.send_event("ADDED", huge, split)
                    counted()
                for o in initial:
                    self.send_event("ADDED", shown(o), split)
                    counted()
                if initial_events:
                    self.send_event("BOOKMARK", bookmark(cursor, {"k8s.io/initial-events-end": "true"}), split)
                while True:
                    out = []
                    with cond:
                        while True:
                            idx = bisect.bisect_right(log_rvs, cursor)
                            if idx < len(log):
                                break
                            now = time.time()
                            wait = deadline - now
                            if bookmarks:
                                wait = min(wait, last_bookmark + settings["bookmark"] - now)
                            if wait <= 0:
                                break
                            cond.wait(min(wait, 0.5))
                            if self.client_gone():
                                raise DropFault()
                        for ev in log[idx:]:
                            cursor = ev["rv"]
                            if ev["gk"] != gk or (ns and ev["key"][0] != ns):
                                continue
                            new_ok = labels_match(lsel, ev["obj"]) and fields_match(fsel, ev["obj"])
                            old_ok = ev["prev"] is not None and labels_match(lsel, ev["prev"]) and fields_match(fsel, ev["prev"])
                            etype = ev["type"]
                            if etype == "MODIFIED" and new_ok and not old_ok:
                                etype = "ADDED"
                            elif etype == "MODIFIED" and old_ok and not new_ok:
                                etype, new_ok = "DELETED", True     # it left the selection
                            elif etype == "DELETED":
                                new_ok = old_ok
                            if new_ok:
                                out.append((etype, ev["obj"]))
                        if idx >= len(log):
                            cursor = max(cursor, state["rv"])
                    for etype, obj in out:
                        self.send_event(etype, shown(obj), split)
                        counted()
                    now = time.time()
                    if now >= deadline:
                        break
                    if bookmarks and now - last_bookmark >= settings["bookmark"] and not out:
                        self.send_event("BOOKMARK", bookmark(cursor), split)
                        last_bookmark = now
                self.chunk(b"")
            except DropFault:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            except ErrorFault:
                reason = fault.get("errorReason") or "Expired"
                self.send_event("ERROR", status_obj(410, reason, "too old resource version: %d (%d)" % (cursor, state["rv"])), 0)
                self.chunk(b"")
        finally:
            with cond:
                state["watches"].remove(me)

    # ------------------------------------------------------------ test control
    def control(self, method, what):
        _, body = self.json_body() if method == "POST" else (None, None)
        body = body or {}
        with cond:
            if what == "calls" and method == "GET":
                return self.reply(200, list(calls))
            if what == "calls/reset" and method == "POST":
                calls.clear()
                return self.reply(200, {})
            if what == "fail" and method == "POST":
                faults.append({"path": body.get("path", ""), "status": int(body.get("status", 500)),
                               "count": int(body.get("count", 1)), "retryAfter": int(body.get("retryAfter", 0)),
                               "method": body.get("method", "")})
                return self.reply(200, {})
            if what == "watch-fault" and method == "POST":
                watch_faults.append({"path": body.get("path", ""), "dropAfter": body.get("dropAfter"),
                                     "errorAfter": body.get("errorAfter"), "splitLines": body.get("splitLines", 0),
                                     "errorReason": body.get("errorReason", "Expired"),
                                     "hugeEventBytes": int(body.get("hugeEventBytes", 0)),
                                     "count": int(body.get("count", 1))})
                return self.reply(200, {})
            if what == "faults/reset" and method == "POST":
                faults.clear()
                watch_faults.clear()
                return self.reply(200, {})
            if what == "compact" and method == "POST":
                # Open watches go on (as with etcd compaction); only new reads from older versions get 410.
                state["compacted"] = state["rv"]
                return self.reply(200, {"compacted": str(state["compacted"])})
            if what == "expired-shape" and method == "POST":
                if body.get("shape") not in ("status", "event", "alternate"):
                    return self.reply(400, {"error": "shape: status|event|alternate"})
                settings["shape"] = body["shape"]
                settings["alternate_next"] = "status"
                return self.reply(200, {})
            if what == "bookmark-interval" and method == "POST":
                settings["bookmark"] = float(body.get("seconds", 1))
                return self.reply(200, {})
            if what == "schema-validation" and method == "POST":
                if body.get("mode") not in ("all", "status", "off"):
                    return self.reply(400, {"error": "mode: all|status|off"})
                settings["schema"] = body["mode"]
                return self.reply(200, {})
            if what == "tokens" and method == "POST":
                if body.get("remove"):
                    tokens.pop(str(body.get("token")), None)
                else:
                    tokens[str(body.get("token"))] = str(body.get("user", "standin-user"))
                return self.reply(200, {})
            if what == "state" and method == "GET":
                return self.reply(200, {"resourceVersion": str(state["rv"]), "compacted": str(state["compacted"]),
                                        "watches": [w["path"] for w in state["watches"]]})
        return self.reply(404, {"error": "unknown stand-in control %s %s" % (method, what)})


def load_crds(path):
    import yaml
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                doc = json.loads(json.dumps(doc, default=str))     # YAML dates and the like become JSON strings
                create(kinds[("apiextensions.k8s.io", "v1", "customresourcedefinitions")], "", doc, False)


with cond:
    for n in ("default", "kube-system", "kube-public", "rampart-system"):
        create(kinds[("", "v1", "namespaces")], "", {"metadata": {"name": n}}, False)
    if opts["crds"]:
        load_crds(opts["crds"])

srv = Server(("127.0.0.1", int(opts["port"])), Handler)
if opts["tls-cert"]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts["tls-cert"], opts["tls-key"])
    if opts["client-ca"]:
        ctx.load_verify_locations(opts["client-ca"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
    srv.context = ctx
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""#

/// One API call the stand-in recorded, in RBAC terms: the RBAC check's own type.
public typealias KubernetesCall = KubernetesAPICall

/// The Kubernetes-API test stand-in (see the file comment): a python child process on 127.0.0.1, with a kubeconfig
/// for it, driven by the real kubectl and by curl; stopped by its PID.
public final class KubernetesAPIStandIn: @unchecked Sendable {
    /// How an expired resourceVersion is answered on a watch.
    public enum ExpiredShape: String, Sendable {
        case status      // HTTP 410 with a Status body
        case event       // HTTP 200, one ERROR event with code 410, end of stream
        case alternate   // status, event, status, ...
    }

    /// Which writes of custom resources the stand-in checks against the CRD schema.
    public enum SchemaValidation: String, Sendable {
        case all       // every write, as a real API server does
        case status    // status writes only: what a controller writes (fixtures may be ones a real server refuses)
        case off
    }

    public let process: Background
    public let port: Int
    public let token: String
    public let tls: Bool
    public let pki: TestPKI?
    public let dir: String
    /// The kubeconfig kubectl and Rampart use: the token, or with `clientCA` the client certificate (CN `client-one`).
    public let kubeconfigPath: String
    public var url: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }

    public static let scriptPath: String = {
        let path = NSTemporaryDirectory() + "rampart-k8s-standin-\(getpid()).py"
        try? kubernetesStandInPythonSource.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    /// The CRDs `rampart crds` wrote (manifests/crds): they define the rampart.io kinds and their printer columns.
    public static var defaultCRDs: String { PackagePaths.root.appendingPathComponent("manifests/crds/rampart.io_crds.yaml").path }

    /// - token: the bearer token the stand-in accepts, as `user`.
    /// - tls: serve HTTPS with a TestPKI server certificate for 127.0.0.1.
    /// - clientCA: also accept client certificates from the TestPKI CA (the CN is the user).
    /// - allowAnonymous: take requests without credentials as `system:anonymous`. Default: only over plain http,
    ///   where kubectl sends no bearer token.
    /// - crds: a YAML file of CustomResourceDefinitions installed at start (nil: none).
    /// - schemaValidation: which writes of custom resources are checked against their CRD schema (defaults,
    ///   pruning, types, enums, patterns, bounds), as the API server checks all of them.
    public init(token: String = "standin-token", user: String = "system:serviceaccount:rampart-system:rampart",
                tls: Bool = false, clientCA: Bool = false, allowAnonymous: Bool? = nil,
                crds: String? = KubernetesAPIStandIn.defaultCRDs, bookmarkInterval: Double = 1,
                expiredShape: ExpiredShape = .status, schemaValidation: SchemaValidation = .status) throws {
        self.token = token
        self.tls = tls || clientCA
        dir = try TempDir.make("k8s-standin")
        pki = self.tls ? try TestPKI() : nil
        var args = [Self.scriptPath, "--token", token, "--token-user", user, "--bookmark-interval", String(bookmarkInterval),
                    "--expired-shape", expiredShape.rawValue]
        if allowAnonymous ?? !self.tls { args += ["--anonymous", "system:anonymous"] }
        if let crds { args += ["--crds", crds] }
        args += ["--schema-validation", schemaValidation.rawValue]
        if let pki {
            args += ["--tls-cert", pki.path("localhost.crt"), "--tls-key", pki.path("localhost.key")]
            if clientCA { args += ["--client-ca", pki.path("ca.crt")] }
        }
        let child = try Background("/usr/bin/env", ["python3"] + args)
        var found: Int?
        Poll.until(timeout: 20) {
            let output = child.output
            if let newline = output.firstIndex(of: "\n") {
                found = Int(output[..<newline])
                return true
            }
            return !child.process.isRunning
        }
        guard let found else {
            let log = child.output
            child.stop(grace: 1)
            throw NSError(domain: "KubernetesAPIStandIn", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "kubernetes stand-in did not start: \(log)"])
        }
        process = child
        port = found
        kubeconfigPath = dir + "/kubeconfig"
        try writeKubeconfig(to: kubeconfigPath, token: clientCA ? nil : token, clientCertificate: clientCA)
        let answers = Poll.until(timeout: 20) { controlRequest("GET", "state")?.status == 200 }
        guard answers else {
            process.stop(grace: 1)
            throw NSError(domain: "KubernetesAPIStandIn", code: 2,
                          userInfo: [NSLocalizedDescriptionKey: "kubernetes stand-in does not answer: \(process.output)"])
        }
    }

    /// Writes a kubeconfig for this stand-in with the given credentials (a test of "wrong token" makes its own).
    /// `clientCertificate` names a TestPKI pair ("client": CN client-one; "otherclient": from another CA).
    public func writeKubeconfig(to path: String, token: String?, clientCertificate: Bool = false,
                                certificate: String = "client", namespace: String = "default") throws {
        var cluster = "    server: \(url)\n"
        if let pki { cluster += "    certificate-authority-data: \(Self.base64(pki.pem("ca.crt")))\n" }
        var user = ""
        if let token { user += "    token: \(token)\n" }
        if clientCertificate, let pki {
            user += "    client-certificate-data: \(Self.base64(pki.pem(certificate + ".crt")))\n"
            user += "    client-key-data: \(Self.base64(pki.pem(certificate + ".key")))\n"
        }
        if user.isEmpty { user = "    {}\n" }
        let text = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: standin
          cluster:
        \(cluster)users:
        - name: standin-user
          user:
        \(user)contexts:
        - name: standin
          context:
            cluster: standin
            user: standin-user
            namespace: \(namespace)
        current-context: standin

        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Writes what a pod's service-account volume holds (`token`, `ca.crt`, `namespace`) into `directory`, for tests
    /// of in-cluster configuration; needs `tls` (in-cluster clients speak https). `token` nil: the stand-in's token.
    public func writeServiceAccount(to directory: String, namespace: String = "rampart-system", token: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try (token ?? self.token).write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        try (pki?.pem("ca.crt") ?? "").write(toFile: directory + "/ca.crt", atomically: true, encoding: .utf8)
        try namespace.write(toFile: directory + "/namespace", atomically: true, encoding: .utf8)
    }

    /// The environment a pod sees for the API server: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
    public var inClusterEnvironment: [String: String] {
        ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(port)]
    }

    private static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The real kubectl: /usr/bin/kubectl, or $KUBECTL.
    public static var kubectlPath: String { ProcessInfo.processInfo.environment["KUBECTL"] ?? "/usr/bin/kubectl" }

    private func kubectlArguments(_ args: [String], kubeconfig: String?) -> [String] {
        // A fresh discovery cache for every run: CRDs come and go within a test.
        ["--kubeconfig", kubeconfig ?? kubeconfigPath, "--cache-dir", dir + "/kube-cache-\(UUID().uuidString.prefix(8))"] + args
    }

    /// Runs the real kubectl against the stand-in.
    public func kubectl(_ args: [String], stdin: String? = nil, kubeconfig: String? = nil, timeout: Double = 60) -> CommandResult {
        (try? Command.run(Self.kubectlPath, kubectlArguments(args, kubeconfig: kubeconfig), stdin: stdin, env: ["HOME": dir], timeout: timeout))
            ?? CommandResult(code: -1, stdout: "", stderr: "kubectl could not be started")
    }

    /// Starts kubectl in the background (`wait`, `get --watch`); its output is the Background's log.
    public func startKubectl(_ args: [String], kubeconfig: String? = nil) throws -> Background {
        try Background(Self.kubectlPath, kubectlArguments(args, kubeconfig: kubeconfig), env: ["HOME": dir])
    }

    /// A request with curl: `token` nil sends the stand-in's token, "" sends none. Returns status 0 when curl failed.
    public func request(method: String = "GET", path: String, body: String? = nil,
                        contentType: String = "application/json", token: String? = nil,
                        clientCertificate: String? = nil, headers: [String] = [], timeout: Double = 10) -> (status: Int, body: String) {
        var args = ["-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", String(timeout), "-X", method]
        if let pki {
            args += ["--cacert", pki.path("ca.crt")]
            if let clientCertificate { args += ["--cert", pki.path(clientCertificate + ".crt"), "--key", pki.path(clientCertificate + ".key")] }
        }
        let bearer = token ?? self.token
        if !bearer.isEmpty { args += ["-H", "Authorization: Bearer \(bearer)"] }
        if body != nil { args += ["-H", "Content-Type: \(contentType)", "--data-binary", "@-"] }
        for header in headers { args += ["-H", header] }
        args.append(url + path)
        guard let result = try? Command.run("/usr/bin/curl", args, stdin: body ?? "", timeout: timeout + 5), result.code == 0,
              let newline = result.stdout.lastIndex(of: "\n"),
              let status = Int(result.stdout[result.stdout.index(after: newline)...]) else { return (0, "") }
        return (status, String(result.stdout[..<newline]))
    }

    /// `request` with a JSON object answer (nil when the body is not a JSON object).
    public func requestJSON(method: String = "GET", path: String, body: String? = nil,
                            contentType: String = "application/json") -> (status: Int, json: [String: Any]?) {
        let answer = request(method: method, path: path, body: body, contentType: contentType)
        return (answer.status, (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any])
    }

    /// Starts a streaming GET with curl (a watch): the body goes to a file the test reads while it grows.
    /// `raw` keeps the chunked framing in the body (curl --raw), to see how the stand-in split its writes.
    public func startStream(path: String, raw: Bool = false, timeout: Double = 60) throws -> CurlStream {
        let bodyPath = dir + "/stream-\(UUID().uuidString.prefix(8))"
        var args = ["-sS", "-N", "-o", bodyPath, "-w", "%{http_code}", "--max-time", String(timeout)]
        if raw { args.append("--raw") }
        if let pki { args += ["--cacert", pki.path("ca.crt")] }
        args += ["-H", "Authorization: Bearer \(token)", url + path]
        return CurlStream(process: try Background("/usr/bin/curl", args), bodyPath: bodyPath)
    }

    private func controlRequest(_ method: String, _ what: String, _ json: String? = nil) -> (status: Int, body: String)? {
        let answer = request(method: method, path: "/_standin/" + what, body: method == "POST" ? (json ?? "{}") : nil, token: "")
        return answer.status == 0 ? nil : answer
    }

    private func control(_ what: String, _ fields: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: fields)) ?? Data("{}".utf8)
        _ = controlRequest("POST", what, String(decoding: data, as: UTF8.self))
    }

    /// Every API call since the start or the last `resetCalls()` (discovery and `/_standin/` are not recorded).
    public func calls() -> [KubernetesCall] {
        guard let answer = controlRequest("GET", "calls"),
              let list = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [[String: Any]] else { return [] }
        return list.map { entry in
            func field(_ key: String) -> String { (entry[key] as? String) ?? "" }
            return KubernetesCall(verb: field("verb"), group: field("group"), version: field("version"), resource: field("resource"),
                                  subresource: field("subresource"), namespace: field("namespace"), name: field("name"),
                                  user: field("user"))
        }
    }

    public func resetCalls() { _ = controlRequest("POST", "calls/reset") }

    /// The next `count` requests (-1: all) whose path contains `pathContaining` (and with `method`, if given) are
    /// answered `status` (429 carries Retry-After: `retryAfter`, as does 5xx when `retryAfter` > 0).
    public func failNext(_ count: Int = 1, status: Int, pathContaining: String, retryAfter: Int = 0, method: String? = nil) {
        control("fail", ["path": pathContaining, "status": status, "count": count, "retryAfter": retryAfter, "method": method ?? ""])
    }

    /// Faults on the next `count` watches (-1: all) whose path contains `pathContaining`: the connection is cut (no
    /// final chunk) after `dropAfter` events, or an ERROR event (code 410, `errorReason` Expired or Gone) ends the
    /// stream after `errorAfter` events; `splitLines` > 1 sends each event line in that many chunks, flushed apart;
    /// `hugeEventBytes` > 0 first sends one ADDED event (name `huge`) padded to about that many bytes.
    public func watchFault(pathContaining: String, dropAfter: Int? = nil, errorAfter: Int? = nil, errorReason: String = "Expired",
                           splitLines: Int = 0, hugeEventBytes: Int = 0, count: Int = 1) {
        var fields: [String: Any] = ["path": pathContaining, "splitLines": splitLines, "count": count, "errorReason": errorReason,
                                     "hugeEventBytes": hugeEventBytes]
        if let dropAfter { fields["dropAfter"] = dropAfter }
        if let errorAfter { fields["errorAfter"] = errorAfter }
        control("watch-fault", fields)
    }

    /// Clears `failNext` and `watchFault` rules not used up yet.
    public func resetFaults() { control("faults/reset", [:]) }

    /// Expires every resourceVersion before the current one (as etcd compaction does); returns the compaction point.
    @discardableResult
    public func compact() -> String {
        guard let answer = controlRequest("POST", "compact"),
              let obj = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any] else { return "" }
        return (obj["compacted"] as? String) ?? ""
    }

    public func setExpiredShape(_ shape: ExpiredShape) { control("expired-shape", ["shape": shape.rawValue]) }
    public func setBookmarkInterval(_ seconds: Double) { control("bookmark-interval", ["seconds": seconds]) }
    public func setSchemaValidation(_ mode: SchemaValidation) { control("schema-validation", ["mode": mode.rawValue]) }
    public func addToken(_ token: String, user: String) { control("tokens", ["token": token, "user": user]) }
    public func removeToken(_ token: String) { control("tokens", ["token": token, "remove": true]) }

    /// The current resourceVersion and the paths of the watches open right now.
    public func state() -> (resourceVersion: String, watches: [String]) {
        guard let answer = controlRequest("GET", "state"),
              let obj = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any] else { return ("", []) }
        return ((obj["resourceVersion"] as? String) ?? "", (obj["watches"] as? [String]) ?? [])
    }

    /// Waits until at least `count` watches whose path contains `pathContaining` are open.
    @discardableResult
    public func waitForWatches(pathContaining: String, count: Int = 1, timeout: Double = 20) -> Bool {
        Poll.until(timeout: timeout, interval: 0.05) { state().watches.filter { $0.contains(pathContaining) }.count >= count }
    }

    public func stop() {
        process.stop(grace: 2)
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}

/// A curl process reading a stream into a file; `lines` are the complete newline-terminated lines so far.
public final class CurlStream: @unchecked Sendable {
    public let process: Background
    public let bodyPath: String

    init(process: Background, bodyPath: String) {
        self.process = process
        self.bodyPath = bodyPath
    }

    public var body: String { (try? String(contentsOfFile: bodyPath, encoding: .utf8)) ?? "" }

    public var lines: [String] {
        let text = body
        guard let last = text.lastIndex(of: "\n") else { return [] }
        return text[..<last].split(separator: "\n").map(String.init)
    }

    /// The complete lines parsed as watch events (a line that is not a JSON object is left out).
    public var events: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    /// Waits for curl to end; returns its exit code (nil: still running at the deadline).
    public func waitForExit(timeout: Double = 30) -> Int32? {
        guard Poll.until(timeout: timeout, interval: 0.05, { !process.process.isRunning }) else { return nil }
        process.process.waitUntilExit()
        return process.process.terminationStatus
    }

    /// The HTTP status curl printed at the end (0 until curl ended).
    public var status: Int { process.process.isRunning ? 0 : Int(process.output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(3)) ?? 0 }

    public func stop() { process.stop(grace: 1) }
    deinit { stop() }
}
