//! Shared by the delivery checks in `tests/`: where the repository and its lint tools
//! are, and Helm (the `helm-python-sdk` in `.venv`, installed by
//! `scripts/setup-lint-tools`) driven through a small Python shim.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The repository's root directory.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    repo().join("charts/bedrock-chatbot-operator")
}

/// A tool in the project's virtualenv; panics with the fix when it is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = repo().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/setup-lint-tools",
        path.display()
    );
    path
}

/// Reads one JSON request on stdin, answers one JSON object on stdout:
/// `{"op": "lint"}` → Helm's lint report (strict), `{"op": "render", values}` →
/// `{"manifests": {template: text}}`, `{"op": "validate", values}` → `{}`; any Helm
/// error → `{"error": "<class>: <message>"}`.
const HELM_SHIM: &str = r#"
import json, sys
import helm_python
request = json.load(sys.stdin)
try:
    if request["op"] == "lint":
        answer = helm_python.lint(request["chart"], request.get("values"), strict=True,
                                  namespace=request.get("namespace"))
    else:
        chart = helm_python.Chart.load(request["chart"])
        values = request.get("values") or {}
        chart.validate_schema(chart.merge_values(values))
        if request["op"] == "validate":
            answer = {}
        else:
            answer = {"manifests": chart.render(values, name=request["name"],
                                                namespace=request["namespace"], is_install=True),
                      "crds": [c["name"] for c in chart.crds]}
except helm_python.HelmError as error:
    answer = {"error": f"{type(error).__name__}: {error}"}
json.dump(answer, sys.stdout)
"#;

/// Runs one request through Helm (see [`HELM_SHIM`]); `chart` is filled in.
pub fn helm(mut request: Value) -> Value {
    request["chart"] = Value::String(chart_dir().to_string_lossy().into_owned());
    let mut child = Command::new(venv_tool("python"))
        .args(["-c", HELM_SHIM])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start .venv/bin/python: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(request.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to the Helm shim: {e}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("the Helm shim did not finish: {e}"));
    assert!(
        output.status.success(),
        "the Helm shim failed (is helm-python-sdk installed? run ./scripts/setup-lint-tools):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the Helm shim answered no JSON: {e}"))
}
