//! SSM Parameter Store: `SsmParameters` reads one parameter (SecureStrings decrypted) for the
//! services' secrets and settings — bearer token, Slack URL, kube token, policy. Values are never
//! logged; errors name the parameter, never its value.

use aws_sdk_ssm::{Client, operation::get_parameter::GetParameterError};

use crate::error::{AdapterError, SdkFailure};

/// Reads parameters from SSM Parameter Store.
#[derive(Debug, Clone)]
pub struct SsmParameters {
    client: Client,
}

impl SsmParameters {
    /// Reads through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The value of parameter `name` (decrypted if a SecureString).
    pub async fn get(&self, name: &str) -> Result<String, AdapterError> {
        self.get_optional(name).await?.ok_or_else(|| AdapterError::ParameterNotFound { name: name.to_owned() })
    }

    /// The value of parameter `name`, `None` if it does not exist (an optional setting).
    pub async fn get_optional(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let out = self.client.get_parameter().name(name).with_decryption(true).send().await;
        match out {
            Ok(out) => {
                let value = out.parameter().and_then(|p| p.value()).map(str::to_owned);
                tracing::debug!(parameter = name, found = value.is_some(), "Read SSM parameter.");
                Ok(value)
            }
            Err(e) if matches!(e.as_service_error(), Some(GetParameterError::ParameterNotFound(_))) => Ok(None),
            Err(e) => {
                let failure = SdkFailure::new(e, &[]);
                Err(AdapterError::Parameter {
                    name: name.to_owned(),
                    code: failure.code.clone(),
                    retryable: failure.transient,
                    source: failure.cause(),
                })
            }
        }
    }
}
