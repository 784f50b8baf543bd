//! Manifests from files: YAML (multi-document) or JSON, from files or directories,
//! admitted as the API server would and checked across objects, with every problem
//! reported against its file, document, object and field.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform};
use serde::Deserialize;
use serde_json::Value;

use crate::admission::{Admission, Admitted, Kind};
use crate::validation::{self, FieldProblem, Subject};

/// Where an object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file the object was read from: as given on the command line, or found
    /// in a directory given there.
    pub path: PathBuf,
    /// 1-based position of the document in the file.
    pub document: usize,
}

/// An object and where it came from.
#[derive(Clone, Debug)]
pub struct Located<T> {
    /// The file and document the object was read from.
    pub source: Source,
    /// The object as admitted: with the CRD's defaults, and a chatbot's namespace
    /// `default` when its manifest names none.
    pub object: T,
}

/// All objects of a set of files, admitted and consistent with each other.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// Platforms, in file order.
    pub platforms: Vec<Located<ChatbotPlatform>>,
    /// Chatbots, in file order.
    pub chatbots: Vec<Located<BedrockChatbot>>,
    /// Platforms given only as context (`delete --platform FILE`): they tell where
    /// their chatbots' platform resources are, and are never deleted.
    pub context: Vec<Located<ChatbotPlatform>>,
}

impl Manifests {
    /// The platform named `name`.
    pub fn platform(&self, name: &str) -> Option<&ChatbotPlatform> {
        self.platforms
            .iter()
            .map(|p| &p.object)
            .find(|p| p.metadata.name.as_deref() == Some(name))
    }
}

/// One problem, located as precisely as it could be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// File and document, when the problem is in one.
    pub source: Option<Source>,
    /// `Kind name` or `Kind namespace/name`, when known.
    pub object: Option<String>,
    /// The field and what is wrong with it.
    pub problem: FieldProblem,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.source, &self.object) {
            (Some(source), Some(object)) => write!(
                f,
                "{} (document {}, {object}): ",
                source.path.display(),
                source.document
            )?,
            (Some(source), None) => write!(
                f,
                "{} (document {}): ",
                source.path.display(),
                source.document
            )?,
            (None, Some(object)) => write!(f, "{object}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.problem)
    }
}

/// Every problem found in a set of manifests. Nothing is used when there is one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} problem{} in the manifests:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// Extensions read when a directory is given.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads, admits and cross-checks the manifests in `paths` (files, or directories
/// whose `*.yaml`, `*.yml` and `*.json` files are read in name order, not
/// recursively — as `kubectl apply -f` does).
pub fn load(paths: &[PathBuf]) -> Result<Manifests, Problems> {
    let mut problems = Vec::new();
    let documents = read(paths, &mut problems);
    admit_all(documents, problems, false)
}

/// What `delete` reads: the manifests in `paths`, whose chatbots' platforms may be
/// missing from them (a team leaving deletes its own file), and platforms in
/// `context` that only tell where those are. Each context file must hold platforms,
/// and only platforms some chatbot in `paths` is on: a context the delete would not
/// use means the wrong file was given, and looking the platform up on AWS instead
/// would act on something the person did not name.
pub fn load_for_delete(paths: &[PathBuf], context: &[PathBuf]) -> Result<Manifests, Problems> {
    let mut problems = Vec::new();
    let mut documents = read(paths, &mut problems);
    let context_sources = read_context(context, &mut documents, &mut problems);
    let mut manifests = admit_all(documents, problems, true)?;
    let (context, platforms) = manifests
        .platforms
        .into_iter()
        .partition(|p| context_sources.contains(&p.source));
    manifests.platforms = platforms;
    manifests.context = context;
    let mut problems = chatbots_in_context(&manifests, &context_sources);
    problems.extend(context_no_chatbot_is_on(&manifests, &context_sources));
    if problems.is_empty() {
        Ok(manifests)
    } else {
        Err(Problems(problems))
    }
}

/// Reads the `--platform` files into `documents`, and tells where their documents
/// are; a file that holds no document is a problem.
fn read_context(
    context: &[PathBuf],
    documents: &mut Vec<(Source, Value)>,
    problems: &mut Vec<Problem>,
) -> Vec<Source> {
    let mut context_sources = Vec::new();
    for path in context {
        let known = problems.len();
        let found = read(std::slice::from_ref(path), problems);
        if found.is_empty() && problems.len() == known {
            problems.push(unlocated(format!(
                "--platform {}: holds no ChatbotPlatform; give the manifest of the chatbots' platform",
                path.display()
            )));
        }
        context_sources.extend(found.iter().map(|(source, _)| source.clone()));
        documents.extend(found);
    }
    context_sources
}

/// Chatbots read from `--platform` files: they belong in the -f files.
fn chatbots_in_context(manifests: &Manifests, context_sources: &[Source]) -> Vec<Problem> {
    manifests
        .chatbots
        .iter()
        .filter(|c| context_sources.contains(&c.source))
        .map(|c| Problem {
            source: Some(c.source.clone()),
            object: Some(chatbot_label(&c.object)),
            problem: FieldProblem::new(
                "",
                "--platform takes ChatbotPlatform manifests only; give chatbots to delete with -f",
            ),
        })
        .collect()
}

/// Context platforms no chatbot to delete is on: the wrong file was given.
fn context_no_chatbot_is_on(manifests: &Manifests, context_sources: &[Source]) -> Vec<Problem> {
    let on: BTreeSet<&str> = manifests
        .chatbots
        .iter()
        .filter(|c| !context_sources.contains(&c.source))
        .map(|c| c.object.spec.platform_ref.name.as_str())
        .collect();
    let theirs = if on.is_empty() {
        "they hold none".to_string()
    } else {
        format!(
            "theirs: {}",
            on.iter().copied().collect::<Vec<_>>().join(", ")
        )
    };
    manifests
        .context
        .iter()
        .filter(|p| !on.contains(p.object.metadata.name.as_deref().unwrap_or_default()))
        .map(|p| Problem {
            source: Some(p.source.clone()),
            object: Some(platform_label(&p.object)),
            problem: FieldProblem::new(
                "metadata.name",
                format!(
                    "given with --platform, but no BedrockChatbot in the -f files is on it ({theirs}); give the manifest of their platform"
                ),
            ),
        })
        .collect()
}

/// The documents of the files (and directories) in `paths`.
fn read(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<(Source, Value)> {
    let mut documents = Vec::new();
    for path in expand(paths, problems) {
        match std::fs::read_to_string(&path) {
            Ok(text) => documents.extend(parse(&path, &text, problems)),
            Err(error) => problems.push(unlocated(format!(
                "cannot read {}: {error}",
                path.display()
            ))),
        }
    }
    documents
}

/// Like [`load`], for manifests already in memory (`path` only labels problems).
pub fn load_str(path: &Path, text: &str) -> Result<Manifests, Problems> {
    let mut problems = Vec::new();
    let documents = parse(path, text, &mut problems);
    admit_all(documents, problems, false)
}

fn expand(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.is_file()
                                && p.extension()
                                    .and_then(|e| e.to_str())
                                    .is_some_and(|e| EXTENSIONS.contains(&e))
                        })
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        problems.push(unlocated(format!(
                            "{} holds no .yaml, .yml or .json files",
                            path.display()
                        )));
                    }
                    files.extend(found);
                }
                Err(error) => problems.push(unlocated(format!(
                    "cannot read directory {}: {error}",
                    path.display()
                ))),
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            problems.push(unlocated(format!("{} does not exist", path.display())));
        }
    }
    files
}

fn unlocated(message: String) -> Problem {
    Problem {
        source: None,
        object: None,
        problem: FieldProblem::new("", message),
    }
}

/// The documents of one file; empty documents (`---` alone, comments) are skipped.
fn parse(path: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<(Source, Value)> {
    // kubectl would read these otherwise (YAML 1.1): the file is refused, and read
    // on so that every other problem is reported with them.
    for ambiguity in crate::yaml11::ambiguities(text) {
        problems.push(Problem {
            source: Some(Source {
                path: path.to_path_buf(),
                document: ambiguity.document,
            }),
            object: None,
            problem: FieldProblem::new("", ambiguity.message()),
        });
    }
    let mut documents = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let source = Source {
            path: path.to_path_buf(),
            document: index + 1,
        };
        // Through YAML's own value first: it refuses a key given twice in one mapping
        // (as the API server's strict decoding does) where JSON's would keep the last.
        let value = serde_norway::Value::deserialize(document).and_then(serde_norway::from_value);
        match value {
            Ok(Value::Null) => {}
            Ok(value) => documents.push((source, value)),
            Err(error) => {
                problems.push(Problem {
                    source: Some(source),
                    object: None,
                    problem: FieldProblem::new("", format!("not valid YAML: {error}")),
                });
                // The YAML stream cannot be resumed after a syntax error.
                break;
            }
        }
    }
    documents
}

/// Admits every document, then checks them together; any problem anywhere (those
/// found while reading included) rejects the whole set. With `platforms_elsewhere`,
/// a chatbot whose platform is not in the set is no problem (`delete` finds it on AWS).
fn admit_all(
    documents: Vec<(Source, Value)>,
    mut problems: Vec<Problem>,
    platforms_elsewhere: bool,
) -> Result<Manifests, Problems> {
    let mut manifests = Manifests::default();
    for (source, value) in documents {
        admit_one(source, &value, &mut manifests, &mut problems);
    }
    if problems.is_empty() && manifests.platforms.is_empty() && manifests.chatbots.is_empty() {
        // As `kubectl apply`: an empty file is a mistake, not a request to do nothing.
        problems.push(unlocated(
            "no objects found: the files hold no ChatbotPlatform or BedrockChatbot".into(),
        ));
    }
    check_duplicates(&manifests, &mut problems);
    check_across_objects(&manifests, platforms_elsewhere, &mut problems);
    if problems.is_empty() {
        Ok(manifests)
    } else {
        Err(Problems(problems))
    }
}

/// Admits the document read from `source` into `manifests`, and reports what is
/// wrong with it on its own: what admission refuses, or what the checks of one
/// object find.
fn admit_one(
    source: Source,
    value: &Value,
    manifests: &mut Manifests,
    problems: &mut Vec<Problem>,
) {
    // The schemas and CEL rules are compiled once per process, not once per load.
    static ADMISSION: std::sync::LazyLock<Admission> = std::sync::LazyLock::new(Admission::default);
    match ADMISSION.admit(value, None) {
        Ok(Admitted::Platform(platform)) => {
            let found = validation::check_platform(&platform);
            report(problems, &source, &platform_label(&platform), found);
            manifests.platforms.push(Located {
                source,
                object: *platform,
            });
        }
        Ok(Admitted::Chatbot(mut chatbot)) => {
            chatbot
                .metadata
                .namespace
                .get_or_insert_with(|| "default".into());
            let found = validation::check_chatbot(&chatbot);
            report(problems, &source, &chatbot_label(&chatbot), found);
            manifests.chatbots.push(Located {
                source,
                object: *chatbot,
            });
        }
        Err(rejection) => {
            let object = rejection.kind.map(|kind| {
                format!(
                    "{} {}",
                    kind.as_str(),
                    rejection.object.as_deref().unwrap_or("(unnamed)")
                )
            });
            problems.extend(rejection.problems.into_iter().map(|problem| Problem {
                source: Some(source.clone()),
                object: object.clone(),
                problem,
            }));
        }
    }
}

/// The problems [`validation::check_set`] finds across the objects, each reported
/// against the object that has to change.
fn check_across_objects(
    manifests: &Manifests,
    platforms_elsewhere: bool,
    problems: &mut Vec<Problem>,
) {
    let platforms: Vec<&ChatbotPlatform> = manifests.platforms.iter().map(|p| &p.object).collect();
    let chatbots: Vec<&BedrockChatbot> = manifests.chatbots.iter().map(|c| &c.object).collect();
    for found in validation::check_set(&platforms, &chatbots) {
        if platforms_elsewhere && found.problem.field == validation::PLATFORM_REF_FIELD {
            continue;
        }
        let (source, object) = match found.subject {
            Subject::Platform(i) => {
                let p = &manifests.platforms[i];
                (&p.source, platform_label(&p.object))
            }
            Subject::Chatbot(i) => {
                let c = &manifests.chatbots[i];
                (&c.source, chatbot_label(&c.object))
            }
        };
        problems.push(Problem {
            source: Some(source.clone()),
            object: Some(object),
            problem: found.problem,
        });
    }
}

fn label(kind: Kind, name: &Option<String>, namespace: &Option<String>) -> String {
    let name = name.as_deref().unwrap_or("(unnamed)");
    match namespace {
        Some(ns) => format!("{} {ns}/{name}", kind.as_str()),
        None => format!("{} {name}", kind.as_str()),
    }
}

/// `ChatbotPlatform <name>`, as problems name a platform.
fn platform_label(platform: &ChatbotPlatform) -> String {
    label(Kind::ChatbotPlatform, &platform.metadata.name, &None)
}

/// `BedrockChatbot <namespace>/<name>`, as problems name a chatbot.
fn chatbot_label(chatbot: &BedrockChatbot) -> String {
    let meta = &chatbot.metadata;
    label(Kind::BedrockChatbot, &meta.name, &meta.namespace)
}

fn report(problems: &mut Vec<Problem>, source: &Source, label: &str, found: Vec<FieldProblem>) {
    problems.extend(found.into_iter().map(|problem| Problem {
        source: Some(source.clone()),
        object: Some(label.to_string()),
        problem,
    }));
}

/// The same object twice would make two writers fight over one set of resources.
fn check_duplicates(manifests: &Manifests, problems: &mut Vec<Problem>) {
    let mut seen: Vec<(String, &Source)> = Vec::new();
    let objects = manifests
        .platforms
        .iter()
        .map(|p| (platform_label(&p.object), &p.source))
        .chain(
            manifests
                .chatbots
                .iter()
                .map(|c| (chatbot_label(&c.object), &c.source)),
        );
    for (label, source) in objects {
        if let Some((_, first)) = seen.iter().find(|(l, _)| *l == label) {
            problems.push(Problem {
                source: Some(source.clone()),
                object: Some(label.clone()),
                problem: FieldProblem::new(
                    "metadata.name",
                    format!(
                        "the same object is also defined in {} (document {})",
                        first.path.display(),
                        first.document
                    ),
                ),
            });
        } else {
            seen.push((label, source));
        }
    }
}
