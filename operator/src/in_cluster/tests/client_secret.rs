//! The Cognito client secret never leaves AWS through the in-cluster controller: a
//! platform and a chatbot are reconciled against the emulator (created, resynced
//! after the app client drifted, deleted) with every log line captured as the JSON a
//! cluster's log pipeline receives, at `trace` for every crate (the AWS SDK's
//! included); then the real secret, read from the emulator, must be in none of the
//! status patches, events or other requests sent to the API server, the `/metrics`
//! text, the reconcile results, or the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_cognitoidentityprovider::types::OAuthFlowType;
use tracing_subscriber::EnvFilter;

use super::*;

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Everything one reconcile let out of the process.
fn shown(step: &Step) -> String {
    let requests: Vec<String> = step
        .served
        .iter()
        .map(|s| {
            format!(
                "{} {}?{} {}",
                s.seen.method, s.seen.path, s.seen.query, s.seen.body
            )
        })
        .collect();
    format!(
        "{}\n{:?}\n{}",
        requests.join("\n"),
        step.result,
        step.ctx_metrics.render()
    )
}

/// The forms a secret could leak in: as is, base64 (standard and URL-safe), and as
/// the `client_id:secret` Basic credentials the load balancer sends to Cognito.
fn leak_forms(client_id: &str, secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    for plain in [secret.to_string(), format!("{client_id}:{secret}")] {
        let standard = aws_smithy_types::base64::encode(plain.as_bytes());
        let standard = standard.trim_end_matches('=').to_string();
        forms.push(standard.replace('+', "-").replace('/', "_"));
        forms.push(standard);
    }
    forms
}

#[tokio::test]
async fn the_client_secret_never_appears_in_status_events_metrics_or_logs() {
    // tracing-core caches whether each log statement is wanted. While only one
    // dispatcher exists it asks just the default of the thread that first reaches the
    // statement — another test's thread, with no subscriber, would answer "never" for
    // good. A second live dispatcher makes it ask every dispatcher, this one included.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    // A current-thread runtime: every task of this test logs into the capture.
    let logs = Logs::default();
    let writer = {
        let logs = logs.clone();
        move || logs.clone()
    };
    let _capture =
        tracing::subscriber::set_default(crate::telemetry::json(EnvFilter::new("trace"), writer));

    let moto = testkit::Moto::start().unwrap();
    let sdk = moto.sdk_config("us-west-2");
    let mut platform = reference_platform();
    platform.spec.load_balancer.certificate_arn =
        moto.certificate("*.example.com", "us-west-2").unwrap();
    let mut platform = finalized(platform);
    let mut steps = Vec::new();

    for pass in 0.. {
        assert!(pass < 15, "the platform never got Ready");
        let step = step_platform(platform.clone(), &[], sdk.clone()).await;
        step.result.as_ref().unwrap();
        let status = step.last_status().clone();
        platform = with_status(&platform, &status);
        steps.push(step);
        if condition(&status, "Ready")["status"] == "True" {
            break;
        }
    }

    let chatbot_step = async |chatbot: &BedrockChatbot| {
        step(
            Object::Chatbot(chatbot.clone()),
            std::slice::from_ref(&platform),
            std::slice::from_ref(chatbot),
            sdk.clone(),
            Settings::default(),
        )
        .await
    };
    let mut chatbot = finalized(reference_chatbot());
    for pass in 0.. {
        assert!(pass < 10, "the chatbot never converged");
        let step = chatbot_step(&chatbot).await;
        step.result.as_ref().unwrap();
        let status = step.last_status().clone();
        chatbot = with_status(&chatbot, &status);
        steps.push(step);
        if condition(&status, "Synced")["status"] == "True" {
            break;
        }
    }
    let status = chatbot.status.clone().unwrap();
    let pool_id = status.user_pool_id.unwrap();
    let client_id = status.user_pool_client_id.unwrap();
    let aws = crate::engine::Engine::new(sdk.clone(), Arc::new(Quiet)).aws("us-west-2");
    let client = aws
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&client_id)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap();
    let secret = client.client_secret().unwrap().to_string();
    assert!(secret.len() >= 16, "a confidential client: {secret:?}");

    // The app client drifts behind our back: the resync observes it (reading the
    // secret-bearing description again), corrects it and reports the change.
    aws.cognito
        .update_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&client_id)
        .client_name(client.client_name().unwrap())
        .allowed_o_auth_flows_user_pool_client(true)
        .allowed_o_auth_flows(OAuthFlowType::Implicit)
        .allowed_o_auth_scopes("openid")
        .callback_urls("https://attacker.example.net/oauth2/idpresponse")
        .supported_identity_providers("COGNITO")
        .send()
        .await
        .unwrap();
    let resync = chatbot_step(&chatbot).await;
    resync.result.as_ref().unwrap();
    let updated: Vec<&Value> = resync
        .events()
        .into_iter()
        .filter(|e| e["reason"] == "Updated")
        .collect();
    assert!(
        updated
            .iter()
            .any(|e| e["note"].as_str().unwrap().contains("callbackUrls")),
        "the drift was corrected and reported: {:?}",
        resync.events()
    );
    steps.push(resync);

    // Deleted: passes until the finalizer goes.
    let chatbot = deleting(chatbot);
    for pass in 0.. {
        assert!(pass < 20, "the chatbot's deletion never finished");
        let step = chatbot_step(&chatbot).await;
        let done = step.result.is_ok();
        steps.push(step);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let logs = logs.text();
    // The capture saw what matters: the reconciles, and the SDK reading the client.
    assert!(
        logs.contains("\"message\":\"reconciled\""),
        "{}",
        &logs[..logs.len().min(2000)]
    );
    assert!(logs.contains("DescribeUserPoolClient"));
    assert!(
        logs.contains(&client_id),
        "the client id is logged, its secret must not be"
    );
    let everything: Vec<(String, String)> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("reconcile {i}"), shown(s)))
        .chain([("logs".to_string(), logs)])
        .collect();
    assert!(
        everything.iter().any(|(_, text)| text.contains(&client_id)),
        "the status carries the client id"
    );
    for (place, text) in &everything {
        for form in leak_forms(&client_id, &secret) {
            assert!(
                !text.contains(&form),
                "the client secret (as {form}) is in {place}"
            );
        }
    }
}

#[derive(Debug)]
struct Quiet;

impl crate::resources::Progress for Quiet {
    fn report(&self, _event: crate::resources::Event) {}
}
