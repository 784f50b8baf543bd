//! What the Kubernetes API server would do with a manifest before the controller
//! sees it: default it and check it against the CRD's schema and CEL rules. The file
//! mode (`plan`, `apply`) has no API server, so it runs the same checks here, from
//! the same generated CRDs.

use std::net::IpAddr;
use std::sync::Arc;

use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform, GROUP, VERSION};
use jsonschema::{Draft, Validator};
use kube::core::cel::cel::extractors::This;
use kube::core::cel::cel::{Context, ExecutionError, FunctionContext};
use kube::core::cel::{self, CompiledSchema, KubeCelExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::crd;
use crate::validation::{FieldProblem, excerpt};

/// The kinds this operator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ChatbotPlatform`, cluster-scoped.
    ChatbotPlatform,
    /// `BedrockChatbot`, namespaced.
    BedrockChatbot,
}

impl Kind {
    /// The kind's name as in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatbotPlatform => "ChatbotPlatform",
            Self::BedrockChatbot => "BedrockChatbot",
        }
    }

    /// Whether objects of the kind live in a namespace.
    pub fn namespaced(self) -> bool {
        self == Self::BedrockChatbot
    }

    fn from_manifest(api_version: &str, kind: &str) -> Result<Self, FieldProblem> {
        let expected = format!("{GROUP}/{VERSION}");
        let found = match kind {
            "ChatbotPlatform" => Self::ChatbotPlatform,
            "BedrockChatbot" => Self::BedrockChatbot,
            other => {
                return Err(FieldProblem::new(
                    "kind",
                    format!(
                        "unsupported kind {}: expected ChatbotPlatform or BedrockChatbot",
                        excerpt(other)
                    ),
                ));
            }
        };
        if api_version != expected {
            return Err(FieldProblem::new(
                "apiVersion",
                format!(
                    "{kind} has apiVersion {}; this operator serves {expected:?}",
                    excerpt(api_version)
                ),
            ));
        }
        Ok(found)
    }
}

/// An object admitted: defaulted, valid, typed.
#[derive(Clone, Debug)]
pub enum Admitted {
    /// A `ChatbotPlatform` manifest, with the CRD's defaults filled in.
    Platform(Box<ChatbotPlatform>),
    /// A `BedrockChatbot` manifest, with the CRD's defaults filled in.
    Chatbot(Box<BedrockChatbot>),
}

/// The checks of one kind, compiled once.
struct KindSchema {
    schema: Value,
    structural: Validator,
    rules: CompiledSchema,
}

impl std::fmt::Debug for KindSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindSchema").finish_non_exhaustive()
    }
}

impl KindSchema {
    fn new(schema: Value) -> Self {
        let strict = strict(&schema);
        let structural = jsonschema::options()
            .with_draft(Draft::Draft4)
            .build(&strict)
            .expect("the generated CRD schema is a valid JSON schema");
        let rules = cel::compile_schema(&schema);
        assert!(
            !rules.has_errors(),
            "CEL rules of the CRD do not compile: {:?}",
            rules.compilation_errors()
        );
        assert_rules_see_plain_json(&schema, "");
        Self {
            schema,
            structural,
            rules,
        }
    }

    /// What the structural schema refuses in `value` (types, bounds, patterns,
    /// required and unknown fields), in the validator's order.
    fn structural_problems(&self, value: &Value) -> Vec<FieldProblem> {
        self.structural
            .iter_errors(value)
            .map(|error| {
                FieldProblem::new(
                    dotted(error.instance_path().as_str()),
                    describe(&error, &self.schema),
                )
            })
            .collect()
    }

    /// Evaluates the CEL rules against `value`; transition rules only with `old`.
    fn check_cel_rules(
        &self,
        value: &Value,
        old: Option<&Value>,
        problems: &mut Vec<FieldProblem>,
    ) {
        let root = Node {
            rules: &self.rules,
            schema: &self.schema,
        };
        KUBERNETES_CEL.with(|context| check_rules(&root, value, old, "", context, problems));
    }
}

/// Defaulting and validation of both kinds, as the API server does it.
#[derive(Debug)]
pub struct Admission {
    platform: KindSchema,
    chatbot: KindSchema,
}

impl Default for Admission {
    fn default() -> Self {
        let [platform, chatbot] = crd::definitions();
        Self {
            platform: KindSchema::new(crd::schema_of(&platform)),
            chatbot: KindSchema::new(crd::schema_of(&chatbot)),
        }
    }
}

/// Why an object was not admitted: where, and every problem found.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// The kind, when it could be told.
    pub kind: Option<Kind>,
    /// `name` or `namespace/name`, when it could be told.
    pub object: Option<String>,
    /// The problems, each naming its field.
    pub problems: Vec<FieldProblem>,
}

impl Admission {
    /// Defaults and validates `manifest` the way the API server would on create;
    /// with `old`, also checks the transition rules (immutable fields) as on update.
    pub fn admit(&self, manifest: &Value, old: Option<&Value>) -> Result<Admitted, Rejection> {
        let kind = kind_of(manifest).map_err(|problem| Rejection {
            kind: None,
            object: None,
            problems: vec![problem],
        })?;
        let mut manifest = without_nulls(manifest);
        let (object, problems) = check_metadata(kind, manifest.get("metadata"));
        let mut rejection = Rejection {
            kind: Some(kind),
            object,
            problems,
        };
        let schema = self.schema_of(kind);
        drop_what_create_ignores(kind, &mut manifest);
        whole_numbers_as_integers(&mut manifest, &schema.schema);
        let defaulted = cel::apply_defaults(&schema.schema, &manifest);
        rejection
            .problems
            .extend(schema.structural_problems(&defaulted));
        if rejection.problems.is_empty() {
            let old = old.map(|old| cel::apply_defaults(&schema.schema, &without_nulls(old)));
            schema.check_cel_rules(&defaulted, old.as_ref(), &mut rejection.problems);
        }
        if !rejection.problems.is_empty() {
            return Err(rejection);
        }
        typed(kind, defaulted).map_err(|problem| {
            rejection.problems.push(problem);
            rejection
        })
    }

    fn schema_of(&self, kind: Kind) -> &KindSchema {
        match kind {
            Kind::ChatbotPlatform => &self.platform,
            Kind::BedrockChatbot => &self.chatbot,
        }
    }
}

/// The kind `manifest` declares, when it is a mapping of a kind this operator serves.
fn kind_of(manifest: &Value) -> Result<Kind, FieldProblem> {
    let Some(fields) = manifest.as_object() else {
        return Err(FieldProblem::new(
            "",
            "a manifest must be a YAML mapping (an object)",
        ));
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default();
    Kind::from_manifest(text("apiVersion"), text("kind"))
}

/// Removes from `manifest` what the API server ignores on create.
fn drop_what_create_ignores(kind: Kind, manifest: &mut Value) {
    let Some(fields) = manifest.as_object_mut() else {
        return;
    };
    // Status belongs to the controller; the API server ignores it on create.
    fields.remove("status");
    if !kind.namespaced()
        && let Some(metadata) = fields.get_mut("metadata").and_then(Value::as_object_mut)
    {
        // The API server drops the namespace of a cluster-scoped object
        // silently; tools that put every object of a directory in one
        // namespace (a kustomization's `namespace:`) set it on ours too.
        metadata.remove("namespace");
    }
}

/// `value`, admitted, as the typed object of `kind`.
fn typed(kind: Kind, value: Value) -> Result<Admitted, FieldProblem> {
    fn parse<T: DeserializeOwned>(value: Value) -> Result<T, FieldProblem> {
        serde_json::from_value(value).map_err(|e| FieldProblem::new("", e.to_string()))
    }
    Ok(match kind {
        Kind::ChatbotPlatform => Admitted::Platform(Box::new(parse(value)?)),
        Kind::BedrockChatbot => Admitted::Chatbot(Box::new(parse(value)?)),
    })
}

/// Checks `metadata` (without nulls) the way the API server does every object's:
/// only the fields of Kubernetes' `ObjectMeta` (it decodes strictly), a name that
/// is a DNS subdomain, a namespace that is a DNS label, and well-formed labels,
/// annotations, finalizers and owner references.
fn check_metadata(kind: Kind, metadata: Option<&Value>) -> (Option<String>, Vec<FieldProblem>) {
    let mut problems = Vec::new();
    match metadata {
        Some(Value::Object(fields)) => check_object_meta(fields, &mut problems),
        Some(_) => problems.push(FieldProblem::new("metadata", "must be a mapping")),
        None => {}
    }
    let field = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_str);
    let name = field("name");
    match name {
        None => problems.push(FieldProblem::new("metadata.name", "is required")),
        Some(name) if !is_dns_subdomain(name) => problems.push(FieldProblem::new(
            "metadata.name",
            format!(
                "{} must be a lowercase DNS subdomain (a-z, 0-9, '-', '.'; at most 253 characters)",
                excerpt(name)
            ),
        )),
        Some(_) => {}
    }
    let namespace = field("namespace");
    if let (true, Some(ns)) = (kind.namespaced(), namespace)
        && !is_dns_label(ns)
    {
        problems.push(FieldProblem::new(
            "metadata.namespace",
            format!(
                "{} must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters)",
                excerpt(ns)
            ),
        ));
    }
    // The object is named in every problem: an overlong name is shown cut short.
    let cut = |text: &str| match text.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    };
    let object = name.map(|name| match (kind.namespaced(), namespace) {
        (true, ns) => format!("{}/{}", cut(ns.unwrap_or("default")), cut(name)),
        (false, _) => cut(name),
    });
    (object, problems)
}

/// The fields of Kubernetes' `ObjectMeta`, all the API server decodes in
/// `metadata`; the file mode reads only some of them.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Most bytes of all annotations of an object, keys and values together.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

const QUALIFIED_NAME: &str = "must be a qualified name: an optional DNS subdomain prefix and '/', then at most 63 characters of a-z, A-Z, 0-9, '-', '_', '.', beginning and ending with a letter or digit";

/// The parts of `metadata` the API server checks for every kind, as it does.
fn check_object_meta(metadata: &Map<String, Value>, problems: &mut Vec<FieldProblem>) {
    check_known_meta_fields(metadata, problems);
    check_labels(metadata.get("labels"), problems);
    check_annotations(metadata.get("annotations"), problems);
    check_finalizers(metadata.get("finalizers"), problems);
    check_owner_references(metadata.get("ownerReferences"), problems);
}

/// Only the fields of `ObjectMeta`: the API server decodes `metadata` strictly.
fn check_known_meta_fields(metadata: &Map<String, Value>, problems: &mut Vec<FieldProblem>) {
    let unknown: Vec<String> = metadata
        .keys()
        .map(String::as_str)
        .filter(|key| !OBJECT_META_FIELDS.contains(key))
        .map(excerpt_if_long)
        .collect();
    if !unknown.is_empty() {
        problems.push(FieldProblem::new(
            "metadata",
            format!("unknown field(s) {}", unknown.join(", ")),
        ));
    }
}

/// Label keys are qualified names, values are label values.
fn check_labels(labels: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    const FIELD: &str = "metadata.labels";
    let labels = match labels {
        None => return,
        Some(Value::Object(labels)) => labels,
        Some(_) => {
            problems.push(FieldProblem::new(FIELD, "must be a mapping of strings"));
            return;
        }
    };
    for (key, value) in labels {
        if !is_qualified_name(key) {
            problems.push(FieldProblem::new(
                FIELD,
                format!("label key {} {QUALIFIED_NAME}", excerpt(key)),
            ));
        }
        match value.as_str() {
            Some(value) if is_label_value(value) => {}
            Some(value) => problems.push(FieldProblem::new(
                FIELD,
                format!(
                    "label value {} must be empty or at most 63 characters of a-z, A-Z, 0-9, '-', '_', '.', beginning and ending with a letter or digit",
                    excerpt(value)
                ),
            )),
            None => problems.push(FieldProblem::new(
                FIELD,
                format!("label {} must be a string", excerpt(key)),
            )),
        }
    }
}

/// Annotation keys are qualified names, values are strings, and all of them
/// together fit in [`ANNOTATIONS_MAX_BYTES`].
fn check_annotations(annotations: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    const FIELD: &str = "metadata.annotations";
    let annotations = match annotations {
        None => return,
        Some(Value::Object(annotations)) => annotations,
        Some(_) => {
            problems.push(FieldProblem::new(FIELD, "must be a mapping of strings"));
            return;
        }
    };
    let mut bytes = 0;
    for (key, value) in annotations {
        // The API server checks annotation keys lowercased.
        if !is_qualified_name(&key.to_lowercase()) {
            problems.push(FieldProblem::new(
                FIELD,
                format!("annotation key {} {QUALIFIED_NAME}", excerpt(key)),
            ));
        }
        match value.as_str() {
            Some(value) => bytes += key.len() + value.len(),
            None => problems.push(FieldProblem::new(
                FIELD,
                format!("annotation {} must be a string", excerpt(key)),
            )),
        }
    }
    if bytes > ANNOTATIONS_MAX_BYTES {
        problems.push(FieldProblem::new(
            FIELD,
            format!(
                "annotations hold {bytes} bytes; the API server allows at most {ANNOTATIONS_MAX_BYTES} bytes"
            ),
        ));
    }
}

/// Finalizers are qualified names.
fn check_finalizers(finalizers: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    const FIELD: &str = "metadata.finalizers";
    const NOT_STRINGS: &str = "must be a list of strings";
    let finalizers = match finalizers {
        None => return,
        Some(Value::Array(finalizers)) => finalizers,
        Some(_) => {
            problems.push(FieldProblem::new(FIELD, NOT_STRINGS));
            return;
        }
    };
    for finalizer in finalizers {
        match finalizer.as_str() {
            Some(name) if is_qualified_name(name) => {}
            Some(name) => problems.push(FieldProblem::new(
                FIELD,
                format!("{} {QUALIFIED_NAME}", excerpt(name)),
            )),
            None => problems.push(FieldProblem::new(FIELD, NOT_STRINGS)),
        }
    }
}

/// Every owner reference names its owner completely.
fn check_owner_references(owners: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    let owners = match owners {
        None => return,
        Some(Value::Array(owners)) => owners,
        Some(_) => {
            problems.push(FieldProblem::new(
                "metadata.ownerReferences",
                "must be a list",
            ));
            return;
        }
    };
    for (i, owner) in owners.iter().enumerate() {
        let field = format!("metadata.ownerReferences[{i}]");
        for required in ["apiVersion", "kind", "name", "uid"] {
            if owner
                .get(required)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                problems.push(FieldProblem::new(
                    &field,
                    format!("missing required field {required}"),
                ));
            }
        }
    }
}

fn excerpt_if_long(text: &str) -> String {
    if text.chars().count() > 64 {
        excerpt(text)
    } else {
        text.to_string()
    }
}

/// An RFC 1123 label's characters: a-z, 0-9 and inner '-', at least one.
fn is_rfc1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS label as Kubernetes names namespaces: at most 63 characters.
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_rfc1123_label(s)
}

/// A DNS subdomain as Kubernetes names objects: at most 253 characters; its labels
/// are not limited to 63.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_rfc1123_label)
}

/// A label value: empty, or at most 63 characters of letters, digits, '-', '_'
/// and '.', beginning and ending with a letter or digit.
fn is_label_value(s: &str) -> bool {
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    s.is_empty()
        || (s.len() <= 63
            && alphanumeric(s.chars().next())
            && alphanumeric(s.chars().last())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
}

/// Kubernetes' qualified name (label and annotation keys, finalizers): an
/// optional DNS subdomain and '/', then a non-empty name as a label value.
fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// The manifest without `null` values: the API server drops them for fields that
/// are not nullable, and treats them as absent otherwise.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Whole numbers written with a decimal point (`cpu: 1024.0`, `1e3`) in fields of
/// `type: integer` made integers: the API server accepts them there and stores
/// them as integers. Other numbers stay as they are, for the schema to refuse.
fn whole_numbers_as_integers(value: &mut Value, schema: &Value) {
    // Beyond ±2^63 a float has no i64 to become; the API server refuses it too.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match value {
        Value::Number(n) if schema.get("type").and_then(Value::as_str) == Some("integer") => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < LIMIT)
            {
                // In range and whole: the conversion is exact.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|v| whole_numbers_as_integers(v, item));
            }
        }
        Value::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                let child_schema = schema
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| schema.get("additionalProperties"));
                if let Some(child_schema) = child_schema {
                    whole_numbers_as_integers(child, child_schema);
                }
            }
        }
        _ => {}
    }
}

/// The CRD schema made strict for unknown fields: every object schema with
/// `properties` refuses other keys, as `kubectl apply --validate=strict` (the
/// default) does. `metadata` and free-form maps are left open.
fn strict(schema: &Value) -> Value {
    let mut schema = schema.clone();
    // The API server adds the object's envelope to every CRD schema implicitly.
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("apiVersion".into(), serde_json::json!({ "type": "string" }));
        properties.insert("kind".into(), serde_json::json!({ "type": "string" }));
        properties.insert("metadata".into(), serde_json::json!({ "type": "object" }));
    }
    tighten(&mut schema);
    schema
}

fn tighten(node: &mut Value) {
    let Some(object) = node.as_object_mut() else {
        return;
    };
    let has_properties = object.contains_key("properties");
    let preserves_unknown = object
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if has_properties && !preserves_unknown && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    // OpenAPI's `nullable` is unknown to JSON Schema; nulls are gone by now anyway.
    object.remove("nullable");
    if let Some(Value::String(pattern)) = object.get_mut("pattern") {
        *pattern = as_go_reads_it(pattern);
    }
    for (key, child) in object.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Some(props) = child.as_object_mut() {
                    props.values_mut().for_each(tighten);
                }
            }
            "items" | "additionalProperties" => tighten(child),
            "allOf" | "anyOf" | "oneOf" => {
                if let Some(list) = child.as_array_mut() {
                    list.iter_mut().for_each(tighten);
                }
            }
            _ => {}
        }
    }
}

/// A schema pattern rewritten so that the JSON schema validator, which reads
/// ECMA-262 regular expressions, matches what the API server's Go regular
/// expressions (RE2) match: `\d`, `\s`, `\w` and their negations are ASCII
/// classes (ECMA's `\s` takes in Unicode spaces), and `.` is any character but a
/// line feed (ECMA's also stops at `\r`, U+2028 and U+2029).
fn as_go_reads_it(pattern: &str) -> String {
    let ascii = |class: char| match class.to_ascii_lowercase() {
        'd' => "0-9",
        's' => "\\t\\n\\f\\r ",
        _ => "0-9A-Za-z_",
    };
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(class @ ('d' | 's' | 'w')) if in_class => out.push_str(ascii(class)),
                Some(class @ ('d' | 's' | 'w')) => out.push_str(&format!("[{}]", ascii(class))),
                Some(class @ ('D' | 'S' | 'W')) => {
                    assert!(
                        !in_class,
                        "pattern {pattern}: \\{class} inside [...] has no ASCII form here"
                    );
                    out.push_str(&format!("[^{}]", ascii(class)));
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '.' if !in_class => out.push_str("[^\\n]"),
            _ => out.push(c),
        }
    }
    out
}

/// `/spec/model/temperature` → `spec.model.temperature`; list indexes as `[0]`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// A schema error in words a user of `kubectl` would recognise; `schema` is the
/// CRD's, for the patterns as written there.
fn describe(error: &jsonschema::ValidationError<'_>, schema: &Value) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match error.kind() {
        K::AdditionalProperties { unexpected } => {
            const LISTED: usize = 10;
            let mut names: Vec<String> = unexpected
                .iter()
                .take(LISTED)
                .map(|n| excerpt_if_long(n))
                .collect();
            if unexpected.len() > LISTED {
                names.push(format!("and {} more", unexpected.len() - LISTED));
            }
            format!("unknown field(s) {}", names.join(", "))
        }
        K::Required { property } => {
            format!(
                "missing required field {}",
                property.as_str().unwrap_or_default()
            )
        }
        _ => {
            // The message quotes the offending value; a huge one is shown cut short.
            let value = error.instance().to_string();
            let message = if value.chars().count() > 80 {
                let shown = match error.instance().as_ref() {
                    Value::String(text) => excerpt(text),
                    _ => excerpt(&value),
                };
                error.masked_with(shown).to_string()
            } else {
                error.to_string()
            };
            // The pattern as the CRD has it, not as rewritten for the validator.
            match (
                error.kind(),
                schema
                    .pointer(error.schema_path().as_str())
                    .and_then(Value::as_str),
            ) {
                (K::Pattern { pattern }, Some(written)) => {
                    message.replace(&format!("\"{pattern}\""), &format!("\"{written}\""))
                }
                _ => message,
            }
        }
    }
}

// The CRDs' CEL rules (`x-kubernetes-validations`), evaluated as the API server
// evaluates them. kube-cel compiles them and brings Kubernetes' function libraries,
// but its own evaluator runs them with the cel crate's `size()`, which counts a
// string's bytes where Kubernetes counts characters; its context cannot be given
// other functions. So the walk over the compiled rules is ours, in a context where
// the functions that differ are Kubernetes' own.

thread_local! {
    /// Kubernetes' CEL functions: the cel crate's and kube-cel's, with those that
    /// differ from the API server's replaced. (A context is not `Sync`, so one per
    /// thread, built once.)
    static KUBERNETES_CEL: Context<'static> = {
        let mut context = Context::default().with_all();
        context.add_function("size", size_in_characters);
        context.add_function("isCIDR", |text: Arc<String>| is_cidr(&text));
        context
    };
}

/// CEL's `size()` as Kubernetes defines it: a string's length in characters
/// (Unicode code points), as `maxLength` counts them too.
fn size_in_characters(
    ftx: &FunctionContext,
    This(this): This<cel::cel::Value>,
) -> Result<i64, ExecutionError> {
    use cel::cel::Value as Cel;
    let size = match this {
        Cel::String(text) => text.chars().count(),
        Cel::Bytes(bytes) => bytes.len(),
        Cel::List(items) => items.len(),
        Cel::Map(map) => map.map.len(),
        other => return Err(ftx.error(format!("cannot determine the size of {other:?}"))),
    };
    Ok(i64::try_from(size).unwrap_or(i64::MAX))
}

/// CEL's `isCIDR()` as Kubernetes defines it: an address and a prefix length as
/// Go's `netip.ParsePrefix` reads them — no leading zero in an IPv4 octet or in
/// the length, no zone — and no IPv4-mapped IPv6 address. kube-cel's accepts
/// `010.0.0.0/8`. (Its `cidr()` does too: [`assert_rules_see_plain_json`]
/// checks that every rule calling it asks `isCIDR()` first.)
fn is_cidr(text: &str) -> bool {
    let Some((address, length)) = text.split_once('/') else {
        return false;
    };
    let canonical_length = matches!(length.as_bytes(), [b'0'] | [b'1'..=b'9', ..])
        && length.bytes().all(|b| b.is_ascii_digit());
    let Some(length) = length.parse::<u8>().ok().filter(|_| canonical_length) else {
        return false;
    };
    // The standard library refuses leading zeros in IPv4 octets and zones, as Go does.
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => length <= 32,
        Ok(IpAddr::V6(v6)) => length <= 128 && v6.to_ipv4_mapped().is_none(),
        Err(_) => false,
    }
}

/// A place in a schema: its compiled rules and the schema itself (for the types
/// of the values the rules see).
struct Node<'a> {
    rules: &'a CompiledSchema,
    schema: &'a Value,
}

impl<'a> Node<'a> {
    fn property(&self, key: &str) -> Option<Node<'a>> {
        Some(Node {
            rules: self.rules.properties.get(key)?,
            schema: self.schema.get("properties")?.get(key)?,
        })
    }

    fn items(&self) -> Option<Node<'a>> {
        Some(Node {
            rules: self.rules.items.as_deref()?,
            schema: self.schema.get("items")?,
        })
    }

    fn map_values(&self) -> Option<Node<'a>> {
        Some(Node {
            rules: self.rules.additional_properties.as_deref()?,
            schema: self.schema.get("additionalProperties")?,
        })
    }
}

/// Evaluates every rule at `node` and below against `value` (defaulted, without
/// nulls); transition rules only with an `old` value, as on update.
fn check_rules(
    node: &Node<'_>,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    context: &Context<'_>,
    problems: &mut Vec<FieldProblem>,
) {
    check_rules_of_node(node, value, old, path, context, problems);
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let Some(child_node) = node.property(key).or_else(|| node.map_values()) else {
                    continue;
                };
                let child_path = match path {
                    "" => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                let old_child = old.and_then(|o| o.get(key));
                check_rules(
                    &child_node,
                    child,
                    old_child,
                    &child_path,
                    context,
                    problems,
                );
            }
        }
        Value::Array(items) => {
            let Some(item) = node.items() else {
                return;
            };
            for (i, child) in items.iter().enumerate() {
                let old_child = old.and_then(|o| o.get(i));
                let child_path = format!("{path}[{i}]");
                check_rules(&item, child, old_child, &child_path, context, problems);
            }
        }
        _ => {}
    }
}

/// Evaluates the rules of `node` itself (not of its children) against `value`.
fn check_rules_of_node(
    node: &Node<'_>,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    context: &Context<'_>,
    problems: &mut Vec<FieldProblem>,
) {
    let mut scope = context.new_inner_scope();
    scope.add_variable_from_value("self", as_cel(value, node.schema));
    if let Some(old) = old {
        scope.add_variable_from_value("oldSelf", as_cel(old, node.schema));
    }
    // Rules that do not compile were refused when the schema was loaded.
    for compiled in node.rules.validations.iter().flatten() {
        if compiled.is_transition_rule && old.is_none() {
            continue;
        }
        if let Some(message) = rule_failure(compiled, &scope) {
            let field_path = compiled.rule.field_path.as_deref().unwrap_or_default();
            problems.push(FieldProblem::new(format!("{path}{field_path}"), message));
        }
    }
}

/// Why `compiled` does not hold in `scope`: the rule's message when it is false,
/// or why it could not be evaluated; `None` when it holds.
fn rule_failure(compiled: &cel::CompilationResult, scope: &Context<'_>) -> Option<String> {
    let rule = &compiled.rule;
    match compiled.program.execute(scope) {
        Ok(cel::cel::Value::Bool(true)) => None,
        Ok(cel::cel::Value::Bool(false)) => Some(
            compiled
                .message_program
                .as_ref()
                .and_then(|program| match program.execute(scope) {
                    Ok(cel::cel::Value::String(text)) => Some(text.to_string()),
                    _ => None,
                })
                .or_else(|| rule.message.clone())
                .unwrap_or_else(|| format!("failed rule: {}", rule.rule)),
        ),
        Ok(other) => Some(format!("rule {} gave {other:?}, not a bool", rule.rule)),
        Err(error) => Some(format!("rule {} cannot be evaluated: {error}", rule.rule)),
    }
}

/// `value` as the API server hands it to CEL: numbers of `type: number` as
/// doubles, other whole numbers as integers, objects as maps keyed by field name.
fn as_cel(value: &Value, schema: &Value) -> cel::cel::Value {
    use cel::cel::Value as Cel;
    use cel::cel::objects::{Key, Map};
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) if schema.get("type").and_then(Value::as_str) == Some("number") => {
            Cel::Float(n.as_f64().unwrap_or(f64::NAN))
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            (None, None) => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Cel::String(Arc::new(text.clone())),
        Value::Array(items) => {
            let item = schema.get("items").unwrap_or(&Value::Null);
            Cel::List(Arc::new(items.iter().map(|v| as_cel(v, item)).collect()))
        }
        Value::Object(fields) => {
            let map = fields
                .iter()
                .map(|(key, v)| {
                    let child = schema
                        .get("properties")
                        .and_then(|p| p.get(key))
                        .or_else(|| schema.get("additionalProperties"))
                        .unwrap_or(&Value::Null);
                    (Key::String(Arc::new(key.clone())), as_cel(v, child))
                })
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

/// Words CEL reserves: Kubernetes escapes field names that are one of them.
const CEL_RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Checks that the rules see values exactly as [`as_cel`] makes them: no field
/// name that Kubernetes escapes for CEL (not an identifier, or a reserved word),
/// no format or extension that changes a value's CEL type (`date-time`,
/// `duration`, `byte`, int-or-string, embedded resources) and no `allOf`,
/// `anyOf` or `oneOf`. A schema that needs them needs them here first.
fn assert_rules_see_plain_json(schema: &Value, path: &str) {
    let Some(node) = schema.as_object() else {
        return;
    };
    assert_no_value_retyping(node, path);
    assert_rules_portable(node, path);
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            assert!(
                is_cel_identifier(name),
                "{path}.{name}: Kubernetes escapes this field name for CEL"
            );
            assert_rules_see_plain_json(child, &format!("{path}.{name}"));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get(key) {
            assert_rules_see_plain_json(child, &format!("{path}.{key}"));
        }
    }
}

/// No keyword or format at this schema node that changes the CEL type of its value.
fn assert_no_value_retyping(node: &Map<String, Value>, path: &str) {
    for key in [
        "allOf",
        "anyOf",
        "oneOf",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
    ] {
        assert!(!node.contains_key(key), "{path}: {key} is not supported");
    }
    if let Some(format) = node.get("format").and_then(Value::as_str) {
        assert!(
            !["date-time", "duration", "byte"].contains(&format),
            "{path}: format {format} is not supported"
        );
    }
}

/// The rules at this schema node mean here what they mean to the API server.
fn assert_rules_portable(node: &Map<String, Value>, path: &str) {
    for rule in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get("rule").and_then(Value::as_str))
    {
        assert!(
            !rule.contains("cidr(") || rule.contains("isCIDR("),
            "{path}: rule {rule} calls cidr() without asking isCIDR() first"
        );
        // matches() runs Rust's regex, whose Perl classes are Unicode where the
        // API server's (RE2) are ASCII: the rules spell their classes out.
        assert!(
            !["\\d", "\\D", "\\s", "\\S", "\\w", "\\W"]
                .iter()
                .any(|class| rule.contains(class)),
            "{path}: rule {rule} uses a Perl character class"
        );
    }
}

/// A field name Kubernetes hands to CEL as it is, unescaped.
fn is_cel_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.contains("__")
        && !CEL_RESERVED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_read_like_kubectl_explain() {
        assert_eq!(dotted("/spec/model/temperature"), "spec.model.temperature");
        assert_eq!(
            dotted("/spec/network/managed/publicSubnetCidrs/1"),
            "spec.network.managed.publicSubnetCidrs[1]"
        );
        assert_eq!(dotted(""), "");
    }

    #[test]
    fn huge_values_are_cut_short_in_messages() {
        let admission = Admission::default();
        let unknown: serde_json::Map<String, Value> = (0..1000)
            .map(|i| (format!("field{i}"), json!(i)))
            .chain([("x".repeat(1000), json!(1))])
            .collect();
        let mut manifest = serde_json::json!({
            "apiVersion": "bedrock-chatbot.dev/v1alpha1",
            "kind": "BedrockChatbot",
            "metadata": { "name": "n".repeat(100_000), "namespace": "t" },
            "spec": {
                "platformRef": { "name": "p" },
                "hostname": "chat.example.com",
                "model": { "systemPrompt": "p".repeat(1_000_000) }
            }
        });
        manifest["spec"]["task"] = Value::Object(unknown);
        let rejection = admission.admit(&manifest, None).unwrap_err();
        let fields: Vec<&str> = rejection
            .problems
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["metadata.name", "spec.model.systemPrompt", "spec.task"],
            "{rejection:?}"
        );
        for problem in &rejection.problems {
            assert!(problem.message.len() < 400, "{}", problem.message);
        }
        assert!(
            rejection.problems[0]
                .message
                .contains("(100000 characters)")
        );
        assert_eq!(rejection.object, Some(format!("t/{}…", "n".repeat(64))));
        assert!(
            rejection.problems[1]
                .message
                .ends_with("… (1000000 characters) is longer than 20000 characters")
        );
        assert!(rejection.problems[2].message.contains("and 991 more"));
    }

    #[test]
    fn whole_numbers_with_a_decimal_point_become_integers_where_integers_are_asked() {
        let schema = json!({ "properties": {
            "count": { "type": "integer" },
            "ratio": { "type": "number" },
            "counts": { "type": "array", "items": { "type": "integer" } }
        }});
        let mut value = json!({ "count": 2.0, "ratio": 1.0, "counts": [1e3, 2.5, 1e30] });
        whole_numbers_as_integers(&mut value, &schema);
        assert_eq!(
            value,
            json!({ "count": 2, "ratio": 1.0, "counts": [1000, 2.5, 1e30] })
        );
        assert!(value["count"].is_i64());
        assert!(value["ratio"].is_f64());
    }

    #[test]
    fn patterns_are_read_as_go_reads_them() {
        assert_eq!(as_go_reads_it(r"^[^\s]+$"), r"^[^\t\n\f\r ]+$");
        assert_eq!(
            as_go_reads_it(r"^\d\S\w$"),
            r"^[0-9][^\t\n\f\r ][0-9A-Za-z_]$"
        );
        assert_eq!(as_go_reads_it(r"^a.b[.]\.$"), r"^a[^\n]b[.]\.$");
        assert_eq!(as_go_reads_it(r"^[a-z]{2}\\s$"), r"^[a-z]{2}\\s$");
    }

    #[test]
    fn pattern_errors_quote_the_pattern_of_the_crd() {
        let admission = Admission::default();
        let manifest = json!({
            "apiVersion": "bedrock-chatbot.dev/v1alpha1",
            "kind": "BedrockChatbot",
            "metadata": { "name": "a", "namespace": "t" },
            "spec": {
                "platformRef": { "name": "p" },
                "hostname": "chat.example.com",
                "image": "my image"
            }
        });
        let rejection = admission.admit(&manifest, None).unwrap_err();
        assert_eq!(rejection.problems.len(), 1, "{rejection:?}");
        assert_eq!(
            rejection.problems[0].message,
            r#""my image" does not match "^[^\s]+$""#
        );
    }

    #[test]
    fn names_and_keys_are_read_as_kubernetes_reads_them() {
        assert!(is_dns_subdomain(&"a".repeat(100)));
        assert!(is_dns_subdomain("chat.example.com"));
        assert!(!is_dns_subdomain("chat..example.com"));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
        assert!(!is_dns_label(&"a".repeat(64)));
        for valid in ["team", "example.com/team", "a_b.c-d", "A"] {
            assert!(is_qualified_name(valid), "{valid}");
        }
        for invalid in [
            "",
            "/team",
            "Example.com/team",
            "a/b/c",
            "team name",
            "-a",
            &"k".repeat(64),
        ] {
            assert!(!is_qualified_name(invalid), "{invalid}");
        }
        assert!(is_label_value(""));
        assert!(is_label_value(&"x".repeat(63)));
        assert!(!is_label_value(&"x".repeat(64)));
        assert!(!is_label_value("a-"));
        assert!(!is_label_value("é"));
    }

    #[test]
    #[should_panic(expected = "uses a Perl character class")]
    fn a_rule_matching_a_perl_class_is_refused_when_the_schema_is_loaded() {
        let rule = json!({ "rule": r"self.matches('^\\S+$')" });
        assert_rules_see_plain_json(&json!({ "x-kubernetes-validations": [rule] }), "spec");
    }

    #[test]
    #[should_panic(expected = "without asking isCIDR() first")]
    fn a_rule_calling_cidr_unguarded_is_refused_when_the_schema_is_loaded() {
        let rule = json!({ "rule": "cidr(self).prefixLength() >= 16" });
        assert_rules_see_plain_json(&json!({ "x-kubernetes-validations": [rule] }), "spec");
    }

    #[test]
    fn cidrs_are_read_as_go_reads_them() {
        for valid in [
            "10.0.0.0/16",
            "0.0.0.0/0",
            "203.0.113.7/24",
            "2001:db8::/32",
        ] {
            assert!(is_cidr(valid), "{valid}");
        }
        for invalid in [
            "010.0.0.0/8",
            "10.00.0.0/16",
            "10.0.0.0/016",
            "10.0.0.0/+16",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0",
            "::ffff:10.0.0.0/112",
            "fe80::1%eth0/64",
            " 10.0.0.0/16",
        ] {
            assert!(!is_cidr(invalid), "{invalid}");
        }
    }

    #[test]
    fn cel_size_counts_characters_as_kubernetes_does() {
        let admission = Admission::default();
        let chatbot = |value: String| {
            json!({
                "apiVersion": "bedrock-chatbot.dev/v1alpha1",
                "kind": "BedrockChatbot",
                "metadata": { "name": "a", "namespace": "t" },
                "spec": {
                    "platformRef": { "name": "p" },
                    "hostname": "chat.example.com",
                    "tags": { "team": value }
                }
            })
        };
        // 256 characters of two bytes each: 512 bytes, within the 256 a tag holds.
        assert!(admission.admit(&chatbot("é".repeat(256)), None).is_ok());
        let rejection = admission
            .admit(&chatbot("é".repeat(257)), None)
            .unwrap_err();
        assert_eq!(rejection.problems.len(), 1, "{rejection:?}");
        assert_eq!(rejection.problems[0].field, "spec.tags");
    }

    /// Tag keys and values hold what IAM, ECS, Elastic Load Balancing and CloudWatch
    /// Logs accept — letters, digits, spaces and `_ . : / = + - @` — and the CRD says
    /// so, for the API server and the file mode alike.
    #[test]
    fn tags_hold_only_what_aws_accepts() {
        let admission = Admission::default();
        let chatbot = |tags: Value| {
            json!({
                "apiVersion": "bedrock-chatbot.dev/v1alpha1",
                "kind": "BedrockChatbot",
                "metadata": { "name": "a", "namespace": "t" },
                "spec": {
                    "platformRef": { "name": "p" },
                    "hostname": "chat.example.com",
                    "tags": tags
                }
            })
        };
        let allowed = json!({
            "cost-center": "Équipe 42 / chat:bot=+@_.",
            "日本": "値",
            "space": "a\u{3000}b\u{a0}c d"
        });
        assert!(
            admission.admit(&chatbot(allowed), None).is_ok(),
            "letters, digits and spaces of any script"
        );
        for (key, value) in [
            ("team", "a\nb"),
            ("team", "a\tb"),
            ("team", "🚀"),
            ("te\u{0}am", "a"),
            ("a;b", "c"),
            ("owner", "<script>"),
            // A vowel sign is a mark, not a letter.
            ("language", "हिंदी"),
        ] {
            let rejection = admission
                .admit(&chatbot(json!({ key: value })), None)
                .expect_err(&format!("{key:?}={value:?}"));
            assert_eq!(rejection.problems.len(), 1, "{rejection:?}");
            assert_eq!(rejection.problems[0].field, "spec.tags");
            assert!(
                rejection.problems[0]
                    .message
                    .contains("only letters, digits, spaces and _ . : / = + - @"),
                "{rejection:?}"
            );
        }
    }

    #[test]
    fn strict_schema_refuses_unknown_fields_but_keeps_metadata_open() {
        let admission = Admission::default();
        let manifest = serde_json::json!({
            "apiVersion": "bedrock-chatbot.dev/v1alpha1",
            "kind": "BedrockChatbot",
            "metadata": { "name": "a", "namespace": "t", "labels": { "team": "t" }, "annotations": { "x": "y" } },
            "spec": { "platformRef": { "name": "p" }, "hostname": "chat.example.com", "modle": {} }
        });
        let rejection = admission.admit(&manifest, None).unwrap_err();
        assert_eq!(rejection.problems.len(), 1, "{rejection:?}");
        assert_eq!(rejection.problems[0].field, "spec");
        assert!(rejection.problems[0].message.contains("modle"));
    }
}
