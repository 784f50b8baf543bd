//! The CRDs committed in the Helm chart are exactly the generated ones, and they
//! carry what `kubectl`, Argo CD and Flux rely on.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;

use operator::admission::{Admission, Admitted};
use operator::crd;
use serde_json::{Value, json};

const COMMITTED: &str = "../charts/bedrock-chatbot-operator/crds/crds.yaml";

#[test]
fn committed_crds_match_the_generated_ones() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == crd::yaml(),
        "{} is stale: regenerate it with `cargo run -p bedrock-chatbot-operator -- crd > charts/bedrock-chatbot-operator/crds/crds.yaml`",
        path.display()
    );
}

#[test]
fn committed_reference_matches_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/crd-reference.md");
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == crd::reference_markdown(),
        "{} is stale: regenerate it with `cargo run -p bedrock-chatbot-operator -- crd -o markdown > docs/crd-reference.md`",
        path.display()
    );
    for field in [
        "spec.hostname",
        "spec.model.temperature",
        "spec.network.managed.natGateways",
        "spec.loadBalancer.certificateArn",
    ] {
        assert!(
            committed.contains(&format!("`{field}`")),
            "{field} missing from the reference"
        );
    }
}

fn definitions() -> Vec<Value> {
    crd::definitions()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect()
}

#[test]
fn names_scope_and_subresources() {
    let [platform, chatbot] = <[Value; 2]>::try_from(definitions()).unwrap();
    assert_eq!(
        platform["metadata"]["name"],
        "chatbotplatforms.bedrock-chatbot.dev"
    );
    assert_eq!(platform["spec"]["scope"], "Cluster");
    assert_eq!(
        chatbot["metadata"]["name"],
        "bedrockchatbots.bedrock-chatbot.dev"
    );
    assert_eq!(chatbot["spec"]["scope"], "Namespaced");
    assert_eq!(chatbot["spec"]["names"]["shortNames"], json!(["bcb"]));
    for crd in [&platform, &chatbot] {
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert_eq!(version["subresources"]["status"], json!({}));
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(
            columns.contains(&"Ready") && columns.contains(&"Age"),
            "{columns:?}"
        );
        let conditions = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
            ["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
        let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
        assert!(status.get("observedGeneration").is_some());
    }
    let chatbot_columns = chatbot["spec"]["versions"][0]["additionalPrinterColumns"].to_string();
    for column in ["Hostname", "Running", "Desired", "URL"] {
        assert!(chatbot_columns.contains(column), "missing column {column}");
    }
}

/// Every property of the spec is documented: descriptions become `kubectl explain`.
#[test]
fn every_spec_field_has_a_description() {
    fn walk(node: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (name, child) in properties {
                let here = format!("{path}.{name}");
                if child.get("description").is_none() {
                    missing.push(here.clone());
                }
                walk(child, &here, missing);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, &format!("{path}[]"), missing);
        }
    }
    let mut missing = Vec::new();
    for crd in definitions() {
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        walk(
            &schema["properties"]["spec"],
            &format!("{kind}.spec"),
            &mut missing,
        );
        walk(
            &schema["properties"]["status"],
            &format!("{kind}.status"),
            &mut missing,
        );
    }
    assert!(
        missing.is_empty(),
        "fields without a doc comment: {missing:#?}"
    );
}

fn chatbot(platform: &str, hostname: &str) -> Value {
    json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "BedrockChatbot",
        "metadata": { "name": "assistant", "namespace": "team-a" },
        "spec": { "platformRef": { "name": platform }, "hostname": hostname }
    })
}

#[test]
fn platform_ref_and_hostname_are_immutable() {
    let admission = Admission::default();
    let old = chatbot("shared", "chat.example.com");
    assert!(matches!(
        admission.admit(&old, Some(&old)),
        Ok(Admitted::Chatbot(_))
    ));

    let mut changed = old.clone();
    changed["spec"]["model"] = json!({ "temperature": 0.2 });
    assert!(
        admission.admit(&changed, Some(&old)).is_ok(),
        "other fields may change"
    );

    for (new, field, message) in [
        (
            chatbot("other", "chat.example.com"),
            "spec.platformRef",
            "platformRef is immutable",
        ),
        (
            chatbot("shared", "new.example.com"),
            "spec.hostname",
            "hostname is immutable",
        ),
    ] {
        let rejection = admission.admit(&new, Some(&old)).unwrap_err();
        assert!(
            rejection
                .problems
                .iter()
                .any(|p| p.field == field && p.message.contains(message)),
            "{rejection:?}"
        );
        // On create there is no old object, so the same manifest is fine.
        assert!(admission.admit(&new, None).is_ok());
    }
}

#[test]
fn platform_region_is_immutable() {
    let admission = Admission::default();
    let platform = |region: &str| {
        json!({
            "apiVersion": "bedrock-chatbot.dev/v1alpha1",
            "kind": "ChatbotPlatform",
            "metadata": { "name": "shared" },
            "spec": {
                "region": region,
                "network": { "managed": { "availabilityZones": [format!("{region}a"), format!("{region}b")] } },
                "loadBalancer": { "certificateArn": format!("arn:aws:acm:{region}:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef") }
            }
        })
    };
    let rejection = admission
        .admit(&platform("eu-west-1"), Some(&platform("us-west-2")))
        .unwrap_err();
    assert!(
        rejection
            .problems
            .iter()
            .any(|p| p.field == "spec.region" && p.message.contains("region is immutable"))
    );
}

/// Every CEL rule stays within the API server's per-rule cost budget, as estimated
/// from the schema's maxItems / maxLength bounds. (kube-cel's scope check is not
/// used: it mistakes comprehension variables like `c` in `self.all(c, …)` for
/// unknown variables.)
#[test]
fn cel_rules_fit_the_api_server_cost_budget() {
    use kube::core::cel::{WarningKind, compile_schema, estimate_rule_cost};

    fn walk(node: &Value, path: &str, found: &mut Vec<String>) {
        if let Some(rules) = node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        {
            let compiled = compile_schema(node);
            for rule in rules {
                let rule = rule["rule"].as_str().unwrap();
                for warning in estimate_rule_cost(rule, &compiled) {
                    if warning.kind == WarningKind::CostExceeded {
                        found.push(format!("{path}: {rule}: {}", warning.message));
                    }
                }
            }
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (name, child) in properties {
                walk(child, &format!("{path}.{name}"), found);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, &format!("{path}[]"), found);
        }
    }
    // The estimator does flag an unbounded list of unbounded strings.
    let unbounded = json!({ "type": "array", "items": { "type": "string" } });
    let costly = estimate_rule_cost(
        "self.all(x, self.all(y, x.matches(y)))",
        &compile_schema(&unbounded),
    );
    assert!(
        costly.iter().any(|w| w.kind == WarningKind::CostExceeded),
        "{costly:?}"
    );

    let mut found = Vec::new();
    let mut rules = 0;
    for crd in definitions() {
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        rules += schema.to_string().matches("\"rule\"").count();
        walk(
            schema,
            crd["spec"]["names"]["kind"].as_str().unwrap(),
            &mut found,
        );
    }
    assert!(
        rules > 20,
        "expected the CRDs to carry their CEL rules, found {rules}"
    );
    assert!(found.is_empty(), "{found:#?}");
}
