//! Virtual users asking questions back to back, and what they saw.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::time::{sleep_until, timeout_at};

use crate::stats::Percentiles;
use crate::target::{Connection, Outcome, Target, Turn};

/// How a load run goes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Virtual users, each with one answer streaming at a time.
    pub concurrency: usize,
    /// Users start evenly spread over this long.
    pub ramp: Duration,
    /// Then this long passes before the window opens.
    pub warmup: Duration,
    /// The measurement window.
    pub duration: Duration,
    /// Tokens every complete answer has (fewer is an error).
    pub tokens: usize,
    /// Answers in one conversation; then the user starts a new one (0: never).
    pub turns_per_conversation: usize,
}

/// What a run measured (the Python driver prints the same fields).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Which driver measured.
    pub driver: &'static str,
    /// Virtual users.
    pub concurrency: usize,
    /// The window, in seconds since the Unix epoch (for matching resource samples).
    pub window_epoch: [f64; 2],
    /// Answers that finished inside the window.
    pub answers: usize,
    /// Tokens that arrived inside the window.
    pub tokens: usize,
    /// Failed questions (refused, broken off, short, error events).
    pub errors: usize,
    /// The first few errors.
    pub error_samples: Vec<String>,
    /// Time to first token of questions asked and answered inside the window.
    pub ttft_ms: Percentiles,
    /// Gaps between consecutive reads that brought tokens, inside the window.
    pub itl_ms: Percentiles,
}

#[derive(Debug, Default)]
struct Record {
    ttft_ms: Vec<f64>,
    gaps_ms: Vec<f64>,
    tokens: usize,
    answers: usize,
    errors: Vec<String>,
}

impl Record {
    fn merge(&mut self, other: Record) {
        self.ttft_ms.extend(other.ttft_ms);
        self.gaps_ms.extend(other.gaps_ms);
        self.tokens += other.tokens;
        self.answers += other.answers;
        self.errors.extend(other.errors);
    }

    fn summary(self, concurrency: usize, window: (Instant, Instant)) -> Summary {
        let (now, epoch_now) = (Instant::now(), SystemTime::now());
        let epoch = |t: Instant| {
            let now_s = epoch_now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            if t <= now {
                now_s - (now - t).as_secs_f64()
            } else {
                now_s + (t - now).as_secs_f64()
            }
        };
        Summary {
            driver: "rust-hyper",
            concurrency,
            window_epoch: [epoch(window.0), epoch(window.1)],
            answers: self.answers,
            tokens: self.tokens,
            errors: self.errors.len(),
            error_samples: self.errors.iter().take(5).cloned().collect(),
            ttft_ms: Percentiles::of(self.ttft_ms),
            itl_ms: Percentiles::of(self.gaps_ms),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `settings.concurrency` users asking one question after the other, each on its
/// own keep-alive connection, each keeping its conversation (as the chatbot's page
/// does, the whole conversation goes with every question).
pub async fn run(target: &Target, settings: &Settings) -> Summary {
    let began = Instant::now();
    let opens = began + settings.ramp + settings.warmup;
    let closes = opens + settings.duration;
    let users: Vec<_> = (0..settings.concurrency)
        .map(|user| {
            let spread = settings
                .ramp
                .mul_f64(user as f64 / settings.concurrency.max(1) as f64);
            let target = target.clone();
            let settings = settings.clone();
            tokio::spawn(async move {
                virtual_user(&target, &settings, user, began + spread, (opens, closes)).await
            })
        })
        .collect();
    let mut record = Record::default();
    for user in users {
        match user.await {
            Ok(r) => record.merge(r),
            Err(e) => record.errors.push(format!("virtual user failed: {e}")),
        }
    }
    record.summary(settings.concurrency, (opens, closes))
}

async fn virtual_user(
    target: &Target,
    settings: &Settings,
    user: usize,
    start_at: Instant,
    (opens, closes): (Instant, Instant),
) -> Record {
    let inside = |t: Instant| t >= opens && t <= closes;
    let mut record = Record::default();
    sleep_until(start_at.into()).await;
    let mut connection: Option<Connection> = None;
    let mut history: Vec<Turn> = Vec::new();
    let mut stored: Option<String> = None;
    let mut question = 0;
    let mut saw_text = false;
    while Instant::now() < closes {
        question += 1;
        if settings.turns_per_conversation > 0
            && history.len() >= 2 * settings.turns_per_conversation
        {
            history.clear();
            stored = None;
        }
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match timeout_at(closes.into(), target.connect()).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    record.errors.push(e.to_string());
                    sleep_until((Instant::now() + Duration::from_millis(100)).into()).await;
                    continue;
                }
                Ok(Ok(conn)) => connection.insert(conn),
            },
        };
        history.push(Turn {
            role: "user",
            text: format!("Question {question} from user {user}"),
        });
        let request =
            match target.request(&history, stored.as_deref(), &format!("u{user}-q{question}")) {
                Ok(request) => request,
                Err(e) => {
                    record.errors.push(e.to_string());
                    break;
                }
            };
        let sent = Instant::now();
        let mut first: Option<Instant> = None;
        let mut last = sent;
        let asked = target.ask(conn, request, false, &mut stored, |arrived, tokens| {
            saw_text = true;
            match first {
                None => {
                    first = Some(arrived);
                    if inside(sent) && inside(arrived) {
                        record.ttft_ms.push(ms(arrived - sent));
                    }
                }
                Some(_) if inside(last) && inside(arrived) => {
                    record.gaps_ms.push(ms(arrived - last));
                }
                Some(_) => {}
            }
            if inside(arrived) {
                record.tokens += tokens;
            }
            last = arrived;
        });
        match timeout_at(closes.into(), asked).await {
            // The window closed mid-answer: not an error, just the end.
            Err(_) => break,
            Ok(Ok(Outcome::Finished { tokens })) if tokens == settings.tokens => {
                if inside(Instant::now()) {
                    record.answers += 1;
                }
                history.push(Turn {
                    role: "assistant",
                    text: "word ".repeat(tokens),
                });
            }
            Ok(Ok(outcome)) => {
                record.errors.push(format!(
                    "answer ended as {outcome:?}, expected {} tokens",
                    settings.tokens
                ));
                history.pop();
            }
            Ok(Err(e)) => {
                record.errors.push(e.to_string());
                history.pop();
                connection = None;
                sleep_until((Instant::now() + Duration::from_millis(100)).into()).await;
            }
        }
    }
    if !saw_text {
        // A user who saw nothing in the whole run has been failed too.
        record
            .errors
            .push("no answer text before the window closed".into());
    }
    record
}

/// One question at a time, each on a new connection: time to first token without
/// load. With `first_token_only` each answer is dropped after its first token. A
/// conversation goes on for `turns_per_conversation` questions (at least 1), each
/// sent with the conversation so far (or, keeping history, the stored one's id).
pub async fn sequential(
    target: &Target,
    count: usize,
    tokens: usize,
    first_token_only: bool,
    turns_per_conversation: usize,
) -> Summary {
    let began = Instant::now();
    let mut record = Record::default();
    let mut history: Vec<Turn> = Vec::new();
    let mut stored: Option<String> = None;
    for question in 0..count {
        if question % turns_per_conversation.max(1) == 0 {
            history.clear();
            stored = None;
        }
        history.push(Turn {
            role: "user",
            text: format!("Sequential question {question}"),
        });
        let outcome = async {
            let mut conn = target.connect().await?;
            let request =
                target.request(&history, stored.as_deref(), &format!("seq-{question}"))?;
            let sent = Instant::now();
            let mut ttft = None;
            let outcome = target
                .ask(
                    &mut conn,
                    request,
                    first_token_only,
                    &mut stored,
                    |arrived, _| {
                        ttft.get_or_insert(arrived - sent);
                    },
                )
                .await?;
            Ok::<_, crate::Error>((outcome, ttft))
        }
        .await;
        match outcome {
            Ok((outcome, Some(ttft)))
                if first_token_only || outcome == (Outcome::Finished { tokens }) =>
            {
                record.ttft_ms.push(ms(ttft));
                record.answers += 1;
                // What the page keeps of the answer (its first word, when the rest
                // was not read).
                let read = if first_token_only { 1 } else { tokens };
                history.push(Turn {
                    role: "assistant",
                    text: "word ".repeat(read),
                });
            }
            Ok((outcome, _)) => {
                record.errors.push(format!(
                    "answer ended as {outcome:?}, expected {tokens} tokens"
                ));
                history.pop();
            }
            Err(e) => {
                record.errors.push(e.to_string());
                history.pop();
            }
        }
    }
    record.summary(1, (began, Instant::now()))
}
