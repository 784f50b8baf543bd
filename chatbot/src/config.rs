//! The chat app's configuration, read from the environment the ECS task definition
//! sets. The operator writes these variables (see the controller's task definition),
//! so this module is the contract between the two.

use std::fmt;

/// AWS region of the Bedrock runtime endpoint (standard AWS SDK variable).
pub const ENV_REGION: &str = "AWS_REGION";
/// Bedrock model or inference-profile id to converse with.
pub const ENV_MODEL_ID: &str = "CHATBOT_MODEL_ID";
/// Sampling temperature, 0 to 1.
pub const ENV_TEMPERATURE: &str = "CHATBOT_TEMPERATURE";
/// Most tokens one answer may have.
pub const ENV_MAX_TOKENS: &str = "CHATBOT_MAX_TOKENS";
/// Nucleus sampling, 0 to 1.
pub const ENV_TOP_P: &str = "CHATBOT_TOP_P";
/// Optional system prompt.
pub const ENV_SYSTEM_PROMPT: &str = "CHATBOT_SYSTEM_PROMPT";
/// ARN of the load balancer whose `x-amzn-oidc-data` tokens are trusted (the token's
/// `signer` claim must equal it).
pub const ENV_ALB_ARN: &str = "CHATBOT_ALB_ARN";
/// Public URL users reach the chatbot at, `https://<hostname>`.
pub const ENV_PUBLIC_URL: &str = "CHATBOT_PUBLIC_URL";
/// Base URL of the Cognito hosted UI, `https://<prefix>.auth.<region>.amazoncognito.com`,
/// for signing out.
pub const ENV_COGNITO_DOMAIN_URL: &str = "CHATBOT_COGNITO_DOMAIN_URL";
/// Id of the Cognito app client, for signing out.
pub const ENV_COGNITO_CLIENT_ID: &str = "CHATBOT_COGNITO_CLIENT_ID";

/// Every variable the operator sets, in the order it sets them.
pub const OPERATOR_SET: [&str; 10] = [
    ENV_REGION,
    ENV_MODEL_ID,
    ENV_TEMPERATURE,
    ENV_MAX_TOKENS,
    ENV_TOP_P,
    ENV_SYSTEM_PROMPT,
    ENV_ALB_ARN,
    ENV_PUBLIC_URL,
    ENV_COGNITO_DOMAIN_URL,
    ENV_COGNITO_CLIENT_ID,
];

/// Model settings sent with every ConverseStream call.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Model or inference-profile id.
    pub model_id: String,
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens in one answer.
    pub max_tokens: i32,
    /// Nucleus sampling.
    pub top_p: f32,
    /// Instructions before every conversation.
    pub system_prompt: Option<String>,
}

/// Where sign-in comes from and where sign-out goes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    /// The ALB whose tokens are trusted.
    pub alb_arn: String,
    /// `https://<hostname>`.
    pub public_url: String,
    /// Cognito hosted UI base URL.
    pub cognito_domain_url: String,
    /// Cognito app client id.
    pub cognito_client_id: String,
}

/// Everything the chat app reads from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// AWS region.
    pub region: String,
    /// Model settings.
    pub model: ModelConfig,
    /// Authentication settings.
    pub auth: AuthConfig,
}

/// A variable is missing or unusable; the message names it and says what is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Config {
    /// Reads the configuration through `lookup` (the process environment in
    /// production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        Ok(Self {
            region: vars.required(ENV_REGION)?,
            model: ModelConfig {
                model_id: vars.required(ENV_MODEL_ID)?,
                temperature: vars.fraction(ENV_TEMPERATURE)?,
                max_tokens: vars.parsed(ENV_MAX_TOKENS, |n: &i32| {
                    (1..=64_000)
                        .contains(n)
                        .then_some(())
                        .ok_or("must be between 1 and 64000")
                })?,
                top_p: vars.fraction(ENV_TOP_P)?,
                system_prompt: lookup(ENV_SYSTEM_PROMPT).filter(|s| !s.trim().is_empty()),
            },
            auth: AuthConfig {
                alb_arn: vars.prefixed(ENV_ALB_ARN, "arn:")?,
                public_url: vars.prefixed(ENV_PUBLIC_URL, "https://")?,
                cognito_domain_url: vars.prefixed(ENV_COGNITO_DOMAIN_URL, "https://")?,
                cognito_client_id: vars.required(ENV_COGNITO_CLIENT_ID)?,
            },
        })
    }
}

struct Vars<'a, F>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        match (self.0)(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(problem(name, "is not set")),
        }
    }

    fn parsed<T>(
        &self,
        name: &'static str,
        check: impl Fn(&T) -> Result<(), &'static str>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.required(name)?;
        let value = raw
            .trim()
            .parse::<T>()
            .map_err(|e| problem(name, format!("{raw:?} is not a number ({e})")))?;
        check(&value).map_err(|why| problem(name, why))?;
        Ok(value)
    }

    fn fraction(&self, name: &'static str) -> Result<f32, ConfigError> {
        self.parsed(name, |x: &f32| {
            (0.0..=1.0)
                .contains(x)
                .then_some(())
                .ok_or("must be between 0 and 1")
        })
    }

    fn prefixed(&self, name: &'static str, prefix: &str) -> Result<String, ConfigError> {
        let value = self.required(name)?;
        if value.starts_with(prefix) {
            Ok(value)
        } else {
            Err(problem(name, format!("must start with {prefix:?}")))
        }
    }
}

fn problem(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn complete() -> HashMap<&'static str, String> {
        HashMap::from([
            (ENV_REGION, "us-west-2".to_string()),
            (
                ENV_MODEL_ID,
                "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
            ),
            (ENV_TEMPERATURE, "0.9".into()),
            (ENV_MAX_TOKENS, "2000".into()),
            (ENV_TOP_P, "1.0".into()),
            (
                ENV_ALB_ARN,
                "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/1".into(),
            ),
            (ENV_PUBLIC_URL, "https://chat.example.com".into()),
            (
                ENV_COGNITO_DOMAIN_URL,
                "https://p.auth.us-west-2.amazoncognito.com".into(),
            ),
            (ENV_COGNITO_CLIENT_ID, "abc".into()),
        ])
    }

    fn read(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn reads_a_complete_environment() {
        let config = read(&complete()).unwrap();
        assert_eq!(config.model.max_tokens, 2000);
        assert!((config.model.temperature - 0.9).abs() < 1e-6);
        assert_eq!(config.model.system_prompt, None);
        assert_eq!(config.auth.public_url, "https://chat.example.com");
    }

    #[test]
    fn names_the_missing_variable() {
        let mut vars = complete();
        vars.remove(ENV_ALB_ARN);
        let err = read(&vars).unwrap_err();
        assert_eq!(err.name, ENV_ALB_ARN);
        assert_eq!(
            err.to_string(),
            "environment variable CHATBOT_ALB_ARN: is not set"
        );
    }

    #[test]
    fn refuses_out_of_range_and_malformed_values() {
        for (name, value, expected) in [
            (ENV_TEMPERATURE, "1.5", "must be between 0 and 1"),
            (ENV_TOP_P, "-0.1", "must be between 0 and 1"),
            (ENV_MAX_TOKENS, "0", "must be between 1 and 64000"),
            (ENV_MAX_TOKENS, "many", "is not a number"),
            (
                ENV_PUBLIC_URL,
                "http://chat.example.com",
                "must start with \"https://\"",
            ),
        ] {
            let mut vars = complete();
            vars.insert(name, value.into());
            let err = read(&vars).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.problem.contains(expected), "{name}={value}: {err}");
        }
    }
}
