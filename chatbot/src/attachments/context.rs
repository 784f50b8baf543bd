//! The files one question's request gives the model: read from S3 under the asker's
//! own part, held to the request-wide limits, and named for Converse.
//!
//! The question's own files must all fit (20 images, 5 documents, 13 MB); if they do
//! not, the question is refused before Bedrock is called. Files of earlier turns come
//! along newest first while they fit beside them; the rest are left out of the
//! model's context (never deleted) and counted, as the `start` event's
//! `droppedAttachments` says, like `dropped` for turns left out of the text budget.
//! An earlier file no longer there (deleted, expired by the bucket's lifecycle rule)
//! is left out and counted the same way; a question's own file that is not there is
//! refused.

use std::collections::{HashMap, HashSet};

use futures_util::future::try_join_all;

use super::format::{self, Sized};
use super::{AttachmentError, Attachments, File, Kind, name};
use crate::conversation::{Role, Turn};
use crate::error::{Error, Result};

/// Earlier turns' files read for one request at most: as many as could ever fit.
const MOST_EARLIER_READ: usize = format::MAX_IMAGES + format::MAX_DOCUMENTS;

/// A file given to the model.
#[derive(Clone, Debug)]
pub struct Given {
    /// The file and its bytes.
    pub file: File,
    /// A document's name for Converse, unique in the request; `None` for images.
    pub converse_name: Option<String>,
}

/// The files of one request, by id: every id a turn names that is not here was left
/// out.
#[derive(Clone, Debug, Default)]
pub struct ContextFiles {
    given: HashMap<String, Given>,
    /// Files of earlier turns left out (over the limits, or no longer there).
    pub dropped: usize,
}

impl ContextFiles {
    /// The file `id`, when it is given.
    pub fn get(&self, id: &str) -> Option<&Given> {
        self.given.get(id)
    }

    /// Whether no file is given.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
    }

    /// How many files are given.
    pub fn len(&self) -> usize {
        self.given.len()
    }
}

/// Ids in order, each once.
fn distinct<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
    let mut seen = HashSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// The files `turns` (the request's, oldest first, ending with the question) name,
/// read from `attachments` for `user`.
pub async fn gather(
    attachments: Option<&Attachments>,
    user: &str,
    turns: &[Turn],
) -> Result<ContextFiles> {
    if turns
        .iter()
        .any(|t| t.role == Role::Assistant && !t.attachments.is_empty())
    {
        return Err(Error::InvalidRequest(
            "only your own messages may carry attachments".into(),
        ));
    }
    let Some((question, earlier)) = turns.split_last() else {
        return Ok(ContextFiles::default());
    };
    let asked = distinct(&question.attachments);
    let older: Vec<&String> = distinct(earlier.iter().rev().flat_map(|t| &t.attachments))
        .into_iter()
        .filter(|id| !asked.contains(id))
        .collect();
    if asked.is_empty() && older.is_empty() {
        return Ok(ContextFiles::default());
    }
    let Some(attachments) = attachments else {
        return Err(Error::AttachmentsDisabled);
    };

    let own = try_join_all(asked.iter().map(|id| async move {
        attachments.get(user, id).await.map_err(|e| match e {
            AttachmentError::NotFound => Error::InvalidRequest(format!(
                "the attached file {id} is not there (removed, or not yours): attach it again"
            )),
            other => other.into(),
        })
    }))
    .await?;
    let sized = |file: &File| Sized {
        kind: file.stored.kind(),
        size: file.stored.size,
    };
    format::check_request(own.iter().map(sized)).map_err(Error::AttachmentRefused)?;

    let read = older.len().min(MOST_EARLIER_READ);
    let mut dropped = older.len() - read;
    let earlier_files = try_join_all(older[..read].iter().map(|id| async move {
        match attachments.get(user, id).await {
            Ok(file) => Ok(Some(file)),
            Err(AttachmentError::NotFound) => Ok(None),
            Err(other) => Err(Error::from(other)),
        }
    }))
    .await?;
    let mut kept: Vec<File> = own;
    for file in earlier_files {
        let Some(file) = file else {
            dropped += 1;
            continue;
        };
        let fits = format::check_request(kept.iter().map(sized).chain([sized(&file)])).is_ok();
        if fits {
            kept.push(file);
        } else {
            dropped += 1;
        }
    }

    let mut given: HashMap<String, Given> = kept
        .into_iter()
        .map(|file| {
            let id = file.stored.id.clone();
            (
                id,
                Given {
                    file,
                    converse_name: None,
                },
            )
        })
        .collect();
    // Documents named in the order the model reads them, oldest turn first.
    let documents: Vec<String> = distinct(turns.iter().flat_map(|t| &t.attachments))
        .into_iter()
        .filter(|id| {
            given
                .get(*id)
                .is_some_and(|g| g.file.stored.kind() == Kind::Document)
        })
        .cloned()
        .collect();
    let names = name::unique_converse_names(
        documents
            .iter()
            .filter_map(|id| given.get(id).map(|g| g.file.stored.name.as_str())),
    );
    for (id, converse_name) in documents.iter().zip(names) {
        if let Some(g) = given.get_mut(id) {
            g.converse_name = Some(converse_name);
        }
    }
    Ok(ContextFiles { given, dropped })
}
