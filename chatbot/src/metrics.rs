//! Prometheus metrics at `/metrics`: requests, active streams, tokens, time to first
//! token, answer duration, errors by kind. One `prometheus-client` registry, as in
//! the operator, encoded as OpenMetrics text.
//!
//! Every labelled series exists from the start, at zero, so a dashboard or an
//! alert sees an error kind before its first occurrence.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::error::ErrorKind;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// The status classes responses are counted by, `1xx` to `5xx`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    /// `input` (the prompt) or `output` (the answer).
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// [`ErrorKind::as_str`].
    kind: &'static str,
}

/// Every metric the chatbot exports, registered in one registry.
///
/// Help texts are given without their final period: the registry adds it.
/// Counters are registered without `_total`: OpenMetrics names the family
/// without it and the samples with it, so the samples keep their names
/// (`chatbot_questions_total`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    responses: Family<ClassLabels, Counter>,
    questions: Counter,
    restarts: Counter,
    active_streams: Gauge,
    /// The `input` series of `chatbot_tokens`.
    input_tokens: Counter,
    /// The `output` series of `chatbot_tokens`.
    output_tokens: Counter,
    /// The `cache_read` and `cache_write` series of `chatbot_tokens`: prompt tokens
    /// read from and written to Bedrock's prompt cache (not in `input`).
    cache_read_tokens: Counter,
    cache_write_tokens: Counter,
    time_to_first_token: Histogram,
    answer_duration: Histogram,
    errors: Family<KindLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("chatbot");
        let responses = counters_at_zero(CLASSES.map(|class| ClassLabels { class }));
        registry.register(
            "http_responses",
            "HTTP responses by status class",
            responses.clone(),
        );
        let questions = Counter::default();
        registry.register("questions", "Questions sent to Bedrock", questions.clone());
        let restarts = Counter::default();
        registry.register(
            "answers_restarted",
            "Answers started over from the stored conversation: the one remembered had changed elsewhere",
            restarts.clone(),
        );
        let active_streams = Gauge::default();
        registry.register(
            "active_streams",
            "Answers streaming now",
            active_streams.clone(),
        );
        let tokens = Family::<DirectionLabels, Counter>::default();
        let input_tokens = tokens.get_or_create_owned(&DirectionLabels { direction: "input" });
        let output_tokens = tokens.get_or_create_owned(&DirectionLabels {
            direction: "output",
        });
        let cache_read_tokens = tokens.get_or_create_owned(&DirectionLabels {
            direction: "cache_read",
        });
        let cache_write_tokens = tokens.get_or_create_owned(&DirectionLabels {
            direction: "cache_write",
        });
        registry.register(
            "tokens",
            "Tokens by direction, from Bedrock's usage metadata",
            tokens,
        );
        let time_to_first_token = Histogram::new(BUCKETS);
        registry.register(
            "time_to_first_token_seconds",
            "From the question to the first token of the answer",
            time_to_first_token.clone(),
        );
        let answer_duration = Histogram::new(BUCKETS);
        registry.register(
            "answer_duration_seconds",
            "From the question to the end of the answer",
            answer_duration.clone(),
        );
        let errors = counters_at_zero(ErrorKind::ALL.map(|kind| KindLabels {
            kind: kind.as_str(),
        }));
        registry.register("errors", "Errors by kind", errors.clone());
        Self {
            registry,
            responses,
            questions,
            restarts,
            active_streams,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            time_to_first_token,
            answer_duration,
            errors,
        }
    }
}

/// A family of counters with one series, at zero, for each of `labels`.
fn counters_at_zero<L>(labels: impl IntoIterator<Item = L>) -> Family<L, Counter>
where
    L: Clone + Eq + std::hash::Hash,
{
    let family = Family::default();
    for label in labels {
        family.get_or_create_owned(&label);
    }
    family
}

impl Metrics {
    /// Counts one question sent to Bedrock.
    pub fn question(&self) {
        self.questions.inc();
    }

    /// Counts one answer started over (its remembered conversation had moved on).
    pub fn restart(&self) {
        self.restarts.inc();
    }

    /// Counts one answer that starts streaming.
    pub fn stream_started(&self) {
        self.active_streams.inc();
    }

    /// Counts one answer that stopped streaming, `elapsed` after its question.
    pub fn stream_ended(&self, elapsed: Duration) {
        self.active_streams.dec();
        self.answer_duration.observe(elapsed.as_secs_f64());
    }

    /// Records the first token of an answer, `elapsed` after its question.
    pub fn first_token(&self, elapsed: Duration) {
        self.time_to_first_token.observe(elapsed.as_secs_f64());
    }

    /// Adds the tokens of one answer's usage metadata.
    pub fn tokens(&self, usage: &crate::bedrock::Usage) {
        self.input_tokens.inc_by(usage.input);
        self.output_tokens.inc_by(usage.output);
        self.cache_read_tokens.inc_by(usage.cache_read);
        self.cache_write_tokens.inc_by(usage.cache_write);
    }

    /// Answers streaming now.
    pub fn active_streams(&self) -> i64 {
        self.active_streams.get()
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: ErrorKind) {
        self.errors
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// Errors of `kind` so far.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .get()
    }

    /// Counts one HTTP response by status class.
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, CLASSES.len()) - 1;
        self.responses
            .get_or_create(&ClassLabels {
                class: CLASSES[class],
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Middleware: counts every response, and every error response by its kind.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.response(response.status().as_u16());
    if let Some(kind) = response.extensions().get::<ErrorKind>() {
        state.metrics.error(*kind);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_every_error_kind() {
        let m = Metrics::default();
        m.response(200);
        m.response(429);
        m.error(ErrorKind::Throttled);
        m.first_token(Duration::from_millis(300));
        let text = m.render();
        assert!(text.contains("chatbot_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("chatbot_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("chatbot_errors_total{kind=\"throttled\"} 1"));
        assert!(text.contains("chatbot_errors_total{kind=\"model_access\"} 0"));
        assert!(text.contains("chatbot_time_to_first_token_seconds_bucket{le=\"0.25\"} 0"));
        assert!(text.contains("chatbot_time_to_first_token_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("chatbot_time_to_first_token_seconds_count 1"));
    }

    #[test]
    fn every_family_has_its_type_and_help_and_every_series_its_name() {
        let m = Metrics::default();
        m.tokens(&crate::bedrock::Usage {
            input: 3,
            output: 5,
            cache_read: 7,
            cache_write: 0,
        });
        m.stream_started();
        let text = m.render();
        for (family, kind, help) in [
            (
                "chatbot_http_responses",
                "counter",
                "HTTP responses by status class.",
            ),
            ("chatbot_questions", "counter", "Questions sent to Bedrock."),
            (
                "chatbot_answers_restarted",
                "counter",
                "Answers started over from the stored conversation: the one remembered had changed elsewhere.",
            ),
            ("chatbot_active_streams", "gauge", "Answers streaming now."),
            (
                "chatbot_tokens",
                "counter",
                "Tokens by direction, from Bedrock's usage metadata.",
            ),
            (
                "chatbot_time_to_first_token_seconds",
                "histogram",
                "From the question to the first token of the answer.",
            ),
            (
                "chatbot_answer_duration_seconds",
                "histogram",
                "From the question to the end of the answer.",
            ),
            ("chatbot_errors", "counter", "Errors by kind."),
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} {kind}\n")),
                "{family}: {text}"
            );
            assert!(
                text.contains(&format!("# HELP {family} {help}\n")),
                "{family}: {text}"
            );
        }
        for class in CLASSES {
            assert!(text.contains(&format!(
                "chatbot_http_responses_total{{class=\"{class}\"}} 0"
            )));
        }
        assert!(text.contains("chatbot_questions_total 0"));
        assert!(text.contains("chatbot_active_streams 1"));
        assert!(text.contains("chatbot_tokens_total{direction=\"input\"} 3"));
        assert!(text.contains("chatbot_tokens_total{direction=\"output\"} 5"));
        assert!(text.contains("chatbot_tokens_total{direction=\"cache_read\"} 7"));
        assert!(text.contains("chatbot_tokens_total{direction=\"cache_write\"} 0"));
        assert!(text.contains("chatbot_answer_duration_seconds_bucket{le=\"+Inf\"} 0"));
        for kind in ErrorKind::ALL {
            let kind = kind.as_str();
            assert!(text.contains(&format!("chatbot_errors_total{{kind=\"{kind}\"}} 0")));
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
