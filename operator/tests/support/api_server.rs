//! A real kube-apiserver with the operator's CRDs, shared by the tests of one
//! binary, for what depends on the API server's own semantics: admission by the
//! CRDs' schema and CEL rules, defaulting, pruning.

use std::sync::OnceLock;

use testkit::KubeControlPlane;

/// The binary's shared control plane ([`KubeControlPlane::shared`]) with both CRDs
/// of the committed chart file installed and established. CRDs are
/// cluster-scoped: they are installed once, by whichever test asks first.
pub fn with_crds() -> &'static KubeControlPlane {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let plane = KubeControlPlane::shared().unwrap_or_else(|e| panic!("{e}"));
    INSTALLED.get_or_init(|| super::cluster::install_crds(plane));
    plane
}

/// A control plane of the oldest Kubernetes release the chart claims
/// ([`testkit::kube::oldest_apiserver`]), shared by the tests of one binary, with
/// both CRDs installed and established: what the CRDs need of the API server (CEL
/// libraries, validation rules) must hold there too.
pub fn oldest_with_crds() -> &'static KubeControlPlane {
    static OLDEST: OnceLock<KubeControlPlane> = OnceLock::new();
    OLDEST.get_or_init(|| {
        let apiserver = testkit::kube::oldest_apiserver().unwrap_or_else(|e| panic!("{e}"));
        let plane = KubeControlPlane::start_with(apiserver).unwrap_or_else(|e| panic!("{e}"));
        super::cluster::install_crds(&plane);
        plane
    })
}

/// Makes sure the namespaces exist; tests may ask for the same ones at once
/// (server-side apply creates what is missing and leaves the rest).
pub fn ensure_namespaces(plane: &KubeControlPlane, names: &[&str]) {
    let manifests: String = names
        .iter()
        .map(|name| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"))
        .collect();
    let output = plane
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &manifests)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "kubectl apply of namespaces {names:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
