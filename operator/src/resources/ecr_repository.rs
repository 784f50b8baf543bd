//! The platform's optional ECR repository for teams' chatbot images: scanned on
//! push, encrypted with AES256, tags mutable or not as the platform says. Images
//! are never deleted by the operator: a repository that still holds any is left
//! in place and the deletion says why.

use aws_sdk_ecr::operation::delete_repository::DeleteRepositoryError;
use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag,
};

use super::{Ctx, Drift, Planned, Removal, Resource, check_fixed, on_off, tags};
use crate::aws::{AwsError, or_absent};
use crate::desired::platform::EcrRepository;
use crate::{Error, Result};

/// A repository as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedRepository {
    /// The repository's ARN: its recorded id.
    pub arn: String,
    /// `<account>.dkr.ecr.<region>.amazonaws.com/<name>`.
    pub uri: String,
    /// `IMMUTABLE` or `MUTABLE`.
    pub image_tag_mutability: String,
    /// Whether ECR scans each image for vulnerabilities when it is pushed.
    pub scan_on_push: bool,
    /// `AES256` or `KMS`.
    pub encryption: String,
}

settings! {
    /// What can change in place on a repository.
    pub enum RepositorySetting {
        ImageTagMutability => "imageTagMutability",
        ScanOnPush => "scanOnPush",
    }
}

impl Resource for EcrRepository {
    const KIND: &'static str = "ECR repository";
    type Observed = ObservedRepository;
    type Setting = RepositorySetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedRepository>> {
        let ecr = &ctx.aws.ecr;
        let found = ecr
            .describe_repositories()
            .repository_names(&self.name)
            .send()
            .await;
        let Some(found) = or_absent(
            found,
            DescribeRepositoriesError::is_repository_not_found_exception,
        )?
        else {
            return Ok(None);
        };
        let Some(repository) = found.repositories().first() else {
            return Ok(None);
        };
        let arn = repository.repository_arn().unwrap_or_default().to_string();
        let repository_tags = ecr
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await?;
        tags::ensure_owned(
            Self::KIND,
            &self.name,
            ctx.owner,
            repository_tags.tags().iter().map(|t| (t.key(), t.value())),
        )?;
        Ok(Some(ObservedRepository {
            uri: repository.repository_uri().unwrap_or_default().to_string(),
            image_tag_mutability: repository
                .image_tag_mutability()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
            scan_on_push: repository
                .image_scanning_configuration()
                .is_some_and(|c| c.scan_on_push()),
            encryption: repository
                .encryption_configuration()
                .map(|c| c.encryption_type().as_str().to_string())
                // A repository made without a configuration is AES256.
                .unwrap_or_else(|| "AES256".into()),
            arn,
        }))
    }

    fn drift(
        &self,
        observed: &ObservedRepository,
        _ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<RepositorySetting>>> {
        // A repository's encryption is fixed at creation.
        check_fixed(
            self,
            &[("encryption", &observed.encryption, self.encryption.as_str())],
        )?;
        Ok([
            Drift::compare(
                RepositorySetting::ImageTagMutability,
                observed.image_tag_mutability.as_str(),
                self.image_tag_mutability.as_str(),
            ),
            Drift::compare(
                RepositorySetting::ScanOnPush,
                observed.scan_on_push,
                self.scan_on_push,
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedRepository> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name)
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| unexpected("CreateRepository", &e.to_string()))?;
        let encryption = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(self.encryption))
            .build()
            .map_err(|e| unexpected("CreateRepository", &e.to_string()))?;
        let created = ctx
            .aws
            .ecr
            .create_repository()
            .repository_name(&self.name)
            .image_tag_mutability(ImageTagMutability::from(self.image_tag_mutability))
            .image_scanning_configuration(self.scanning())
            .encryption_configuration(encryption)
            .set_tags(Some(tags))
            .send()
            .await?;
        let repository = created
            .repository()
            .ok_or_else(|| unexpected("CreateRepository", "the response holds no repository"))?;
        Ok(ObservedRepository {
            arn: repository.repository_arn().unwrap_or_default().to_string(),
            uri: repository.repository_uri().unwrap_or_default().to_string(),
            image_tag_mutability: self.image_tag_mutability.to_string(),
            scan_on_push: self.scan_on_push,
            encryption: self.encryption.to_string(),
        })
    }

    async fn update(
        &self,
        _observed: &ObservedRepository,
        drift: &[Drift<RepositorySetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let ecr = &ctx.aws.ecr;
        for change in drift {
            match change.field {
                RepositorySetting::ImageTagMutability => {
                    ecr.put_image_tag_mutability()
                        .repository_name(&self.name)
                        .image_tag_mutability(ImageTagMutability::from(self.image_tag_mutability))
                        .send()
                        .await?;
                }
                RepositorySetting::ScanOnPush => {
                    ecr.put_image_scanning_configuration()
                        .repository_name(&self.name)
                        .image_scanning_configuration(self.scanning())
                        .send()
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, _observed: &ObservedRepository, ctx: Ctx<'_>) -> Result<Removal> {
        let ecr = &ctx.aws.ecr;
        let images = ecr
            .list_images()
            .repository_name(&self.name)
            .max_results(1)
            .send()
            .await?;
        if !images.image_ids().is_empty() {
            return Ok(Removal::Waiting(self.not_empty()));
        }
        // Never `force`: an image pushed since the check makes AWS refuse, and that
        // refusal is the same answer as above.
        match ecr
            .delete_repository()
            .repository_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(Removal::Done),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteRepositoryError::RepositoryNotEmptyException(_))
                ) =>
            {
                Ok(Removal::Waiting(self.not_empty()))
            }
            Err(error) => Err(error.into()),
        }
    }

    fn id(observed: &ObservedRepository) -> String {
        observed.arn.clone()
    }
}

impl EcrRepository {
    /// The key under which the repository's URI is recorded for status.
    pub fn uri_key(&self) -> String {
        format!("{}-uri", self.key)
    }

    fn scanning(&self) -> ImageScanningConfiguration {
        ImageScanningConfiguration::builder()
            .scan_on_push(self.scan_on_push)
            .build()
    }

    fn not_empty(&self) -> String {
        format!(
            "ECR repository {} still holds images, which the operator never deletes: delete them (or the repository) yourself, or set deletionPolicy: Retain",
            self.name
        )
    }
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(AwsError::unexpected("ecr", operation, message))
}

impl Planned for EcrRepository {
    fn detail(&self) -> String {
        format!(
            "{}, scan on push {}, {}",
            self.image_tag_mutability,
            on_off(self.scan_on_push),
            self.encryption
        )
    }
}
