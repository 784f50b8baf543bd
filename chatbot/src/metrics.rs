//! Prometheus metrics at `/metrics`: requests, active streams, tokens, time to first
//! token, answer duration, errors by kind. A handful of atomics; no registry crate.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::error::ErrorKind;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// A cumulative histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Every metric the chatbot exports.
#[derive(Debug, Default)]
pub struct Metrics {
    responses: [AtomicU64; 5],
    /// Questions accepted and sent to Bedrock.
    pub questions: AtomicU64,
    /// Answers streaming now.
    pub active_streams: AtomicI64,
    /// Prompt tokens, from the streams' metadata.
    pub input_tokens: AtomicU64,
    /// Answer tokens, from the streams' metadata.
    pub output_tokens: AtomicU64,
    /// From the question to the first token.
    pub time_to_first_token: Histogram,
    /// From the question to the end of the answer.
    pub answer_duration: Histogram,
    errors: [AtomicU64; ErrorKind::ALL.len()],
}

impl Metrics {
    /// Counts one error of `kind`.
    pub fn error(&self, kind: ErrorKind) {
        if let Some(i) = ErrorKind::ALL.iter().position(|k| *k == kind) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Errors of `kind` so far.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        ErrorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.errors[i].load(Ordering::Relaxed))
    }

    /// Counts one HTTP response by status class.
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP chatbot_http_responses_total HTTP responses by status class.\n# TYPE chatbot_http_responses_total counter"
        );
        for (i, count) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "chatbot_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                count.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "chatbot_questions_total",
                "Questions sent to Bedrock.",
                "counter",
                self.questions.load(Ordering::Relaxed).to_string(),
            ),
            (
                "chatbot_active_streams",
                "Answers streaming now.",
                "gauge",
                self.active_streams.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, help, kind, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP chatbot_tokens_total Tokens by direction, from Bedrock's usage metadata.\n# TYPE chatbot_tokens_total counter\nchatbot_tokens_total{{direction=\"input\"}} {}\nchatbot_tokens_total{{direction=\"output\"}} {}",
            self.input_tokens.load(Ordering::Relaxed),
            self.output_tokens.load(Ordering::Relaxed)
        );
        self.time_to_first_token.render(
            &mut out,
            "chatbot_time_to_first_token_seconds",
            "From the question to the first token of the answer.",
        );
        self.answer_duration.render(
            &mut out,
            "chatbot_answer_duration_seconds",
            "From the question to the end of the answer.",
        );
        let _ = writeln!(
            out,
            "# HELP chatbot_errors_total Errors by kind.\n# TYPE chatbot_errors_total counter"
        );
        for (kind, count) in ErrorKind::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "chatbot_errors_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        out
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
        m.time_to_first_token.observe(Duration::from_millis(300));
        let text = m.render();
        assert!(text.contains("chatbot_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("chatbot_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("chatbot_errors_total{kind=\"throttled\"} 1"));
        assert!(text.contains("chatbot_errors_total{kind=\"model_access\"} 0"));
        assert!(text.contains("chatbot_time_to_first_token_seconds_bucket{le=\"0.25\"} 0"));
        assert!(text.contains("chatbot_time_to_first_token_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("chatbot_time_to_first_token_seconds_count 1"));
    }
}
