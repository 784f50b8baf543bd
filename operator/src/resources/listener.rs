//! The load balancer's listeners: HTTPS:443 (the platform's certificate and TLS
//! policy; chatbot rules attach here, since authenticate-cognito works only on
//! HTTPS) answering 404 to unknown hosts, and HTTP:80 redirecting to it.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum,
};

use super::{Ctx, Drift, Planned, Removal, Resource, tags};
use crate::aws::AwsError;
use crate::desired::PlatformRef;
use crate::desired::aws_enums::Protocol;
use crate::desired::platform::{DefaultAction, FixedResponse, Listener};
use crate::{Error, Result};

/// A listener's default action in the terms we compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerAction {
    /// `fixed-response`: the load balancer answers itself.
    FixedResponse {
        /// e.g. `404`.
        status_code: String,
        /// e.g. `text/plain`.
        content_type: String,
        /// The text answered (at most 1,024 characters).
        body: String,
    },
    /// `redirect`: the load balancer sends the client to another address.
    Redirect {
        /// Protocol of the address redirected to (`HTTPS`, or `#{protocol}` to keep it).
        protocol: String,
        /// Port of the address redirected to (`443`, or `#{port}` to keep it).
        port: String,
        /// Target host (`#{host}` keeps it).
        host: String,
        /// Target path (`/#{path}` keeps it).
        path: String,
        /// Target query (`#{query}` keeps it).
        query: String,
        /// `HTTP_301` or `HTTP_302`.
        status_code: String,
    },
    /// Anything else (forward, authenticate…): never what we want as a default.
    Other(String),
}

impl From<&DefaultAction> for ListenerAction {
    fn from(action: &DefaultAction) -> Self {
        match action {
            DefaultAction::FixedResponse(response) => Self::from(response),
            DefaultAction::RedirectToHttps { status_code } => Self::Redirect {
                protocol: Protocol::Https.as_str().into(),
                port: "443".into(),
                host: "#{host}".into(),
                path: "/#{path}".into(),
                query: "#{query}".into(),
                status_code: (*status_code).to_string(),
            },
        }
    }
}

impl From<&FixedResponse> for ListenerAction {
    fn from(response: &FixedResponse) -> Self {
        Self::FixedResponse {
            status_code: response.status_code.to_string(),
            content_type: response.content_type.to_string(),
            body: response.body.to_string(),
        }
    }
}

impl From<&Action> for ListenerAction {
    fn from(action: &Action) -> Self {
        let owned = |v: Option<&str>| v.unwrap_or_default().to_string();
        match (
            action.r#type(),
            action.fixed_response_config(),
            action.redirect_config(),
        ) {
            (Some(ActionTypeEnum::FixedResponse), Some(c), _) => Self::FixedResponse {
                status_code: owned(c.status_code()),
                content_type: owned(c.content_type()),
                body: owned(c.message_body()),
            },
            (Some(ActionTypeEnum::Redirect), _, Some(c)) => Self::Redirect {
                protocol: owned(c.protocol()),
                port: owned(c.port()),
                host: owned(c.host()),
                path: owned(c.path()),
                query: owned(c.query()),
                status_code: owned(c.status_code().map(|s| s.as_str())),
            },
            (kind, _, _) => Self::Other(owned(kind.map(|k| k.as_str()))),
        }
    }
}

impl ListenerAction {
    /// The action as AWS takes it (without an order: a listener's default needs none).
    pub fn to_aws(&self) -> Action {
        match self {
            Self::FixedResponse {
                status_code,
                content_type,
                body,
            } => Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code(status_code)
                        .content_type(content_type)
                        .message_body(body)
                        .build(),
                )
                .build(),
            Self::Redirect {
                protocol,
                port,
                host,
                path,
                query,
                status_code,
            } => Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol(protocol)
                        .port(port)
                        .host(host)
                        .path(path)
                        .query(query)
                        .status_code(RedirectActionStatusCodeEnum::from(status_code.as_str()))
                        .build(),
                )
                .build(),
            Self::Other(kind) => Action::builder()
                .r#type(ActionTypeEnum::from(kind.as_str()))
                .build(),
        }
    }
}

/// A listener as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedListener {
    /// The listener's ARN: its recorded id, what rules are made on.
    pub arn: String,
    /// `HTTPS` or `HTTP`.
    pub protocol: String,
    /// TLS policy (HTTPS).
    pub ssl_policy: Option<String>,
    /// Default certificate (HTTPS).
    pub certificate_arn: Option<String>,
    /// What it does with a request no rule takes.
    pub default_actions: Vec<ListenerAction>,
}

settings! {
    /// What can change in place on a listener.
    pub enum ListenerSetting {
        /// The protocol, with the port it listens on.
        Protocol => "protocol",
        Certificate => "certificate",
        SslPolicy => "sslPolicy",
        DefaultAction => "defaultAction",
    }
}

impl Resource for Listener {
    const KIND: &'static str = "Listener";
    type Observed = ObservedListener;
    type Setting = ListenerSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.key
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedListener>> {
        // No load balancer, no listener: creating it will wait for the load balancer.
        let Ok(load_balancer) = ctx.refs.resolve(&PlatformRef::LoadBalancer) else {
            return Ok(None);
        };
        let found = ctx
            .aws
            .elbv2
            .describe_listeners()
            .load_balancer_arn(&load_balancer)
            .send()
            .await?;
        let Some(listener) = found
            .listeners()
            .iter()
            .find(|l| l.port() == Some(i32::from(self.port)))
        else {
            return Ok(None);
        };
        let arn = listener.listener_arn().unwrap_or_default().to_string();
        tags::elbv2_ensure_owned(ctx, Self::KIND, &self.key, &arn).await?;
        Ok(Some(ObservedListener {
            protocol: listener
                .protocol()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            ssl_policy: listener.ssl_policy().map(str::to_string),
            certificate_arn: listener
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_string),
            default_actions: listener
                .default_actions()
                .iter()
                .map(ListenerAction::from)
                .collect(),
            arn,
        }))
    }

    fn drift(
        &self,
        observed: &ObservedListener,
        _ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<ListenerSetting>>> {
        // TLS settings mean nothing on a plain-HTTP listener (moto even reports a
        // default policy there): compared only where TLS is terminated.
        let tls = self.protocol == Protocol::Https;
        Ok([
            Drift::compare(
                ListenerSetting::Protocol,
                observed.protocol.as_str(),
                self.protocol.as_str(),
            ),
            tls.then(|| {
                Drift::compare(
                    ListenerSetting::Certificate,
                    &observed.certificate_arn,
                    &self.certificate_arn,
                )
            })
            .flatten(),
            tls.then(|| {
                Drift::compare(
                    ListenerSetting::SslPolicy,
                    &observed.ssl_policy,
                    &self.ssl_policy,
                )
            })
            .flatten(),
            Drift::compare(
                ListenerSetting::DefaultAction,
                observed.default_actions.clone(),
                vec![ListenerAction::from(&self.default_action)],
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedListener> {
        let load_balancer = ctx.refs.resolve(&PlatformRef::LoadBalancer)?;
        let action = ListenerAction::from(&self.default_action);
        let tags = tags::for_resource(ctx.tags, &self.key, &self.key);
        let created = ctx
            .aws
            .elbv2
            .create_listener()
            .load_balancer_arn(&load_balancer)
            .port(i32::from(self.port))
            .protocol(ProtocolEnum::from(self.protocol))
            .set_ssl_policy(self.ssl_policy.clone())
            .set_certificates(self.certificates())
            .default_actions(action.to_aws())
            .set_tags(Some(tags::elbv2_tags(&tags)))
            .send()
            .await?;
        let arn = created
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| {
                Error::Aws(AwsError::unexpected(
                    "elbv2",
                    "CreateListener",
                    "the response holds no listener",
                ))
            })?
            .to_string();
        Ok(ObservedListener {
            arn,
            protocol: self.protocol.to_string(),
            ssl_policy: self.ssl_policy.clone(),
            certificate_arn: self.certificate_arn.clone(),
            default_actions: vec![action],
        })
    }

    async fn update(
        &self,
        observed: &ObservedListener,
        drift: &[Drift<ListenerSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        let mut call = ctx.aws.elbv2.modify_listener().listener_arn(&observed.arn);
        for change in drift {
            call = match change.field {
                ListenerSetting::Protocol => call
                    .protocol(ProtocolEnum::from(self.protocol))
                    .port(i32::from(self.port)),
                ListenerSetting::Certificate => call.set_certificates(self.certificates()),
                ListenerSetting::SslPolicy => call.set_ssl_policy(self.ssl_policy.clone()),
                ListenerSetting::DefaultAction => {
                    call.default_actions(ListenerAction::from(&self.default_action).to_aws())
                }
            };
        }
        call.send().await?;
        Ok(())
    }

    async fn delete(&self, observed: &ObservedListener, ctx: Ctx<'_>) -> Result<Removal> {
        ctx.aws
            .elbv2
            .delete_listener()
            .listener_arn(&observed.arn)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedListener) -> String {
        observed.arn.clone()
    }
}

impl Listener {
    fn certificates(&self) -> Option<Vec<Certificate>> {
        self.certificate_arn
            .as_ref()
            .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
    }
}

impl Planned for Listener {
    fn shown_name(&self) -> String {
        format!("{}:{}", self.protocol, self.port)
    }

    fn detail(&self) -> String {
        let action = match &self.default_action {
            DefaultAction::FixedResponse(response) => {
                format!("default: fixed {}", response.status_code)
            }
            DefaultAction::RedirectToHttps { status_code } => {
                format!("redirect to HTTPS:443 ({status_code})")
            }
        };
        let tls = self
            .ssl_policy
            .as_ref()
            .map(|policy| {
                format!(
                    "{policy}, certificate {}; ",
                    self.certificate_arn.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        format!("{tls}{action}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::aws_enums::RedirectStatus;

    #[test]
    fn the_redirect_keeps_host_path_and_query_and_reads_back_equal() {
        let desired = ListenerAction::from(&DefaultAction::RedirectToHttps {
            status_code: RedirectStatus::Http301,
        });
        let aws = desired.to_aws();
        assert_eq!(ListenerAction::from(&aws), desired);
        let ListenerAction::Redirect {
            protocol,
            port,
            host,
            path,
            query,
            ..
        } = desired
        else {
            panic!("a redirect")
        };
        assert_eq!(
            (
                protocol.as_str(),
                port.as_str(),
                host.as_str(),
                path.as_str(),
                query.as_str()
            ),
            ("HTTPS", "443", "#{host}", "/#{path}", "#{query}")
        );
    }

    #[test]
    fn a_fixed_response_reads_back_equal_and_differs_from_a_redirect() {
        let fixed = ListenerAction::from(&DefaultAction::FixedResponse(FixedResponse {
            status_code: 404,
            content_type: "text/plain",
            body: "Not found",
        }));
        assert_eq!(ListenerAction::from(&fixed.to_aws()), fixed);
        assert_ne!(
            fixed,
            ListenerAction::from(&DefaultAction::RedirectToHttps {
                status_code: RedirectStatus::Http301
            })
        );
    }
}
