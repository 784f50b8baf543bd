//! The conversation the browser sends with each question. The server keeps none: it
//! checks what arrives, repairs what Bedrock would refuse (blank or repeated turns),
//! and drops the oldest turns until the history fits its budget.

use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::error::{Error, Result};

/// Most turns accepted in one request, whatever their size.
pub const MAX_TURNS: usize = 1000;

/// Who said a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// One message of the conversation: a role, plain text, and the ids of the files
/// attached to it (the user's only; [`crate::attachments`]), nothing else (no system
/// prompt, no content blocks, no tool use ride along).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub text: String,
    /// Ids of the caller's files attached to it (`POST /api/attachments`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
}

impl Turn {
    /// A turn said by `role`.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            text: text.into(),
            attachments: Vec::new(),
        }
    }

    /// The same turn with these files attached.
    #[must_use]
    pub fn with_attachments(mut self, attachments: Vec<String>) -> Self {
        self.attachments = attachments;
        self
    }
}

/// A question: the client's id for its answer stream, and either the conversation
/// so far ending with the question (`messages`, kept by the browser), or the
/// question alone and the stored conversation it continues (`question`,
/// `conversation`; only when the server keeps history).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// Client-chosen id of this answer, to stop it by.
    pub id: String,
    /// The conversation, oldest first, ending with the user's question.
    #[serde(default)]
    pub messages: Option<Vec<Turn>>,
    /// The stored conversation the question continues; none starts a new one.
    #[serde(default)]
    pub conversation: Option<String>,
    /// The question, when the server keeps the conversation.
    #[serde(default)]
    pub question: Option<String>,
    /// The index of the stored question this one is asked in place of (edited, or
    /// the same words to regenerate its answer): the conversation goes on from the
    /// turn before that one. Only with `conversation` and `question`.
    #[serde(default)]
    pub replaces: Option<u32>,
    /// The model to ask, one of the chatbot's choices (`/api/me`'s `models`); none
    /// asks the default.
    #[serde(default)]
    pub model: Option<String>,
    /// Ids of the caller's files attached to `question` (with `messages`, each user
    /// message carries its own).
    #[serde(default)]
    pub attachments: Option<Vec<String>>,
}

/// A conversation ready for Bedrock: starts with the user, alternates, ends with the
/// user, fits the budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// The turns to send.
    pub turns: Vec<Turn>,
    /// How many of the oldest turns were left out to fit the budget.
    pub dropped: usize,
}

/// Checks an answer-stream id: 1 to 64 of `[A-Za-z0-9_-]`.
pub fn check_stream_id(id: &str) -> Result<()> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(
            "id must be 1 to 64 letters, digits, '-' or '_'".into(),
        ))
    }
}

/// Validates `turns` and fits them to `limits`.
pub fn prepare(turns: Vec<Turn>, limits: &Limits) -> Result<Conversation> {
    if turns.is_empty() {
        return Err(Error::InvalidRequest("messages must not be empty".into()));
    }
    if turns.len() > MAX_TURNS {
        return Err(Error::InvalidRequest(format!(
            "at most {MAX_TURNS} messages per request"
        )));
    }
    let Some(question) = turns.last().filter(|t| t.role == Role::User) else {
        return Err(Error::InvalidRequest(
            "the last message must be the user's question".into(),
        ));
    };
    if question.text.trim().is_empty() {
        return Err(Error::InvalidRequest("the question is empty".into()));
    }
    for turn in &turns {
        let chars = turn.text.chars().count();
        if turn.role == Role::User && chars > limits.max_message_chars {
            return Err(Error::MessageTooLong {
                chars,
                limit: limits.max_message_chars,
            });
        }
    }

    // Repair what Bedrock refuses: blank turns (an answer that failed before its first
    // token), turns of the same role in a row (a question asked again), and a history
    // that starts with the model.
    let mut merged: Vec<Turn> = Vec::with_capacity(turns.len());
    for turn in turns {
        if turn.text.trim().is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some(last) if last.role == turn.role => {
                last.text.push_str("\n\n");
                last.text.push_str(&turn.text);
                last.attachments.extend(turn.attachments);
            }
            None if turn.role == Role::Assistant => {}
            _ => merged.push(turn),
        }
    }

    // Drop the oldest exchange (a question and its answer) until the rest fits; the
    // newest question always stays.
    let mut total: usize = merged.iter().map(|t| t.text.chars().count()).sum();
    let mut start = 0;
    while total > limits.history_budget_chars && start + 1 < merged.len() {
        for _ in 0..2 {
            if start + 1 < merged.len() {
                total -= merged[start].text.chars().count();
                start += 1;
            }
        }
    }
    if total > limits.history_budget_chars {
        return Err(Error::MessageTooLong {
            chars: total,
            limit: limits.history_budget_chars,
        });
    }
    let turns = merged.split_off(start);
    Ok(Conversation {
        dropped: start,
        turns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(budget: usize) -> Limits {
        Limits {
            max_message_chars: 100,
            history_budget_chars: budget,
            ..Limits::default()
        }
    }

    fn user(t: &str) -> Turn {
        Turn::new(Role::User, t)
    }
    fn model(t: &str) -> Turn {
        Turn::new(Role::Assistant, t)
    }

    #[test]
    fn keeps_a_conversation_that_fits() {
        let turns = vec![user("a"), model("b"), user("c")];
        let c = prepare(turns.clone(), &limits(1000)).unwrap();
        assert_eq!(c.turns, turns);
        assert_eq!(c.dropped, 0);
    }

    #[test]
    fn drops_the_oldest_exchanges_to_fit_the_budget() {
        let turns = vec![
            user("1111111111"),
            model("2222222222"),
            user("3333333333"),
            model("4444444444"),
            user("55555"),
        ];
        let c = prepare(turns, &limits(25)).unwrap();
        assert_eq!(c.dropped, 2);
        assert_eq!(c.turns.first().unwrap().role, Role::User);
        assert_eq!(c.turns.len(), 3);
        assert_eq!(c.turns.last().unwrap().text, "55555");
    }

    #[test]
    fn the_question_alone_over_budget_is_too_long() {
        let err = prepare(vec![model("x"), user(&"q".repeat(50))], &limits(20)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MessageTooLong {
                    chars: 50,
                    limit: 20
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn repairs_blank_and_repeated_turns() {
        let turns = vec![model("greeting"), user("q1"), model("  "), user("q1 again")];
        let c = prepare(turns, &limits(1000)).unwrap();
        assert_eq!(c.turns, vec![user("q1\n\nq1 again")]);
    }

    #[test]
    fn refuses_what_cannot_be_a_question() {
        assert!(matches!(
            prepare(vec![], &limits(10)),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            prepare(vec![user("q"), model("a")], &limits(10)),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            prepare(vec![user(" \n")], &limits(10)),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            prepare(vec![user(&"x".repeat(101))], &limits(1000)),
            Err(Error::MessageTooLong {
                chars: 101,
                limit: 100
            })
        ));
    }

    #[test]
    fn stream_ids_are_short_and_plain() {
        assert!(check_stream_id("abc-123_X").is_ok());
        for bad in ["", "a b", "../x", &"a".repeat(65)] {
            assert!(check_stream_id(bad).is_err(), "{bad}");
        }
    }
}
