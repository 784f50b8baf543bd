//! The Bedrock Chatbot Operator: desired state of the AWS resources behind a
//! `ChatbotPlatform` and its `BedrockChatbot`s, the manifests they come from, and
//! the command line that plans them.

pub mod admission;
pub mod aws;
pub mod backoff;
pub mod crd;
pub mod desired;
pub mod engine;
pub mod file_mode;
pub mod in_cluster;
pub mod manifest;
pub mod metrics;
pub mod plan;
pub mod progress;
pub mod resources;
pub mod telemetry;
pub mod validation;
pub mod yaml11;

/// Everything that can go wrong in the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifests are invalid; nothing was done.
    #[error("{0}")]
    InvalidManifests(#[from] manifest::Problems),
    /// A result could not be rendered.
    #[error("cannot render the result: {0}")]
    Render(#[source] serde_json::Error),
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
    /// A resource with our name exists but belongs to someone else.
    #[error("{kind} {name} exists but is not managed by this operator (owner tag: {}); it is left untouched — rename or remove it", owner.as_deref().unwrap_or("none"))]
    NotOwned {
        /// [`Resource::KIND`](resources::Resource::KIND) of the resource (`VPC`,
        /// `Target group`).
        kind: &'static str,
        /// Its [`Resource::name`](resources::Resource::name) (`Name` tag or AWS
        /// name).
        name: String,
        /// Its owner tag, if any.
        owner: Option<String>,
    },
    /// A setting AWS cannot change in place differs; the resource would have to be
    /// replaced, which the operator does not do on its own.
    #[error(
        "{kind} {name}: {field} is {have} on AWS but {want} is desired, and AWS cannot change it in place; delete the resource (or restore the spec) to proceed"
    )]
    Immutable {
        /// [`Resource::KIND`](resources::Resource::KIND) of the resource (`VPC`,
        /// `Target group`).
        kind: &'static str,
        /// Its [`Resource::name`](resources::Resource::name) (`Name` tag or AWS
        /// name).
        name: String,
        /// Which setting differs (`serviceName`, `type`, `layout`, …).
        field: &'static str,
        /// The setting's value on AWS, as text.
        have: String,
        /// The value the spec asks for, as text.
        want: String,
    },
    /// The load balancer's certificate cannot serve the HTTPS listener. Checked
    /// before the platform's first write, so a mistyped ARN creates nothing.
    #[error(
        "ChatbotPlatform {platform}: spec.loadBalancer.certificateArn: {arn} {problem}; nothing was created or changed"
    )]
    Certificate {
        /// The `ChatbotPlatform`'s `metadata.name`.
        platform: String,
        /// The certificate ARN from the spec.
        arn: String,
        /// What is wrong with it.
        problem: String,
        /// Whether it can come right without a change to the spec (a certificate
        /// still being validated).
        heals: bool,
    },
    /// A platform's existing network cannot take it (DNS attributes off, a private
    /// endpoint of someone else in the way); found before any write.
    #[error(
        "ChatbotPlatform {platform}: spec.network.existing.vpcId: {vpc} {problem}; nothing was created or changed"
    )]
    ExistingNetwork {
        /// The `ChatbotPlatform`'s `metadata.name`.
        platform: String,
        /// The VPC from the spec.
        vpc: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A managed network's zones cannot be used, or too few are offered; found
    /// before any write.
    #[error(
        "ChatbotPlatform {platform}: spec.network.managed.availabilityZones: {problem}; nothing was created or changed"
    )]
    AvailabilityZones {
        /// The `ChatbotPlatform`'s `metadata.name`.
        platform: String,
        /// Which zones are not usable, or how many are offered against how many
        /// the network needs.
        problem: String,
    },
    /// `delete` of chatbots whose platform is neither in the files nor found on AWS.
    #[error(
        "ChatbotPlatform {platform} is not in the files and was not found in {region} (no ECS cluster and HTTPS listener of that platform): pass its manifest with --platform FILE, or set AWS_REGION (or a profile's region) to its region; nothing was deleted"
    )]
    PlatformNotFound {
        /// The `ChatbotPlatform`'s `metadata.name`.
        platform: String,
        /// The AWS region it was looked for in (its `spec.region`).
        region: String,
    },
    /// `delete` of chatbots whose platform is not in the files, with no region to
    /// look for it in.
    #[error(
        "ChatbotPlatform {platform} is not in the files and no AWS region is configured to look for it in: pass its manifest with --platform FILE, or set AWS_REGION (or a profile's region) to its region; nothing was deleted"
    )]
    PlatformRegionUnknown {
        /// The `ChatbotPlatform`'s `metadata.name`.
        platform: String,
    },
    /// A resource this one needs does not exist yet.
    #[error("waiting for {0}")]
    Unresolved(String),
    /// Time ran out before everything was ready (or gone).
    #[error("not ready:\n  - {}", .0.join("\n  - "))]
    NotReady(Vec<String>),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// Adding or removing the finalizer failed for a reason other than the API.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// A deletion is not finished: AWS is still deleting, or other objects still
    /// use this one. The finalizer stays until it is.
    #[error("deletion not finished: {0}")]
    DeletionPending(String),
    /// This replica lost the leader lease and stopped reconciling.
    #[error("lost the leader lease {0}; another replica reconciles now")]
    LeaseLost(String),
    /// The metrics and health server could not start.
    #[error("cannot serve {addr}: {source}")]
    Serve {
        /// The `--metrics-addr` it was to listen on (`:PORT` or `HOST:PORT`).
        addr: String,
        /// Why the socket could not be opened, bound or listened on.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether trying again without a change can help. Invalid input never heals
    /// by itself; output failures are the caller's environment.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InvalidManifests(_)
            | Self::Render(_)
            | Self::Output(_)
            | Self::NotOwned { .. }
            | Self::Immutable { .. } => false,
            Self::Aws(error) => error.class != aws::ErrorClass::Terminal,
            Self::Certificate { heals, .. } => *heals,
            // Fixed outside the spec (in the VPC); the next resync sees it.
            Self::ExistingNetwork { .. } => false,
            Self::AvailabilityZones { .. } => false,
            Self::PlatformNotFound { .. } | Self::PlatformRegionUnknown { .. } => false,
            Self::Unresolved(_) | Self::NotReady(_) => true,
            Self::Kube(_) | Self::DeletionPending(_) => true,
            Self::Finalizer(_) | Self::LeaseLost(_) | Self::Serve { .. } => false,
        }
    }

    /// The class of an AWS error, `None` for other errors.
    pub fn class(&self) -> Option<aws::ErrorClass> {
        match self {
            Self::Aws(error) => Some(error.class),
            _ => None,
        }
    }

    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidManifests(_) => "invalid_manifests",
            Self::Render(_) => "render",
            Self::Output(_) => "output",
            Self::Aws(error) => match error.class {
                aws::ErrorClass::Retryable => "aws_retryable",
                aws::ErrorClass::Conflict => "aws_conflict",
                aws::ErrorClass::NotFound => "aws_not_found",
                aws::ErrorClass::Propagating => "aws_propagating",
                aws::ErrorClass::Terminal => "aws_terminal",
            },
            Self::NotOwned { .. } => "not_owned",
            Self::Immutable { .. } => "immutable",
            Self::Certificate { .. } => "certificate",
            Self::ExistingNetwork { .. } => "existing_network",
            Self::AvailabilityZones { .. } => "availability_zones",
            Self::PlatformNotFound { .. } | Self::PlatformRegionUnknown { .. } => {
                "platform_not_found"
            }
            Self::Unresolved(_) => "waiting",
            Self::NotReady(_) => "not_ready",
            Self::Kube(_) => "kube",
            Self::Finalizer(_) => "finalizer",
            Self::DeletionPending(_) => "deletion_pending",
            Self::LeaseLost(_) => "lease_lost",
            Self::Serve { .. } => "serve",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
