//! `SsmParameters` against SSM emulated by moto server: SecureStrings are read decrypted, an
//! absent optional parameter is `None`, and a missing required one fails naming the parameter.

use autoscaler_adapters::{aws, error::AdapterError, ssm::SsmParameters};
use autoscaler_testkit::{Moto, unique};
use aws_sdk_ssm::types::ParameterType;

#[tokio::test]
async fn parameters_are_read_decrypted_and_a_missing_one_is_named() {
    let moto = Moto::start().await;
    let config = aws::bounded(&moto.sdk_config());
    let client = aws_sdk_ssm::Client::new(&config);
    let prefix = format!("/k3s-autoscaler/{}", unique("prod"));
    let token = format!("{prefix}/alertmanager-token");
    client
        .put_parameter()
        .name(&token)
        .value("s3cret-bearer")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let ssm = SsmParameters::new(client);

    assert_eq!(ssm.get(&token).await.unwrap(), "s3cret-bearer");
    let slack = format!("{prefix}/slack-webhook");
    assert_eq!(ssm.get_optional(&slack).await.unwrap(), None);
    let err = ssm.get(&slack).await.unwrap_err();
    assert!(matches!(&err, AdapterError::ParameterNotFound { name } if *name == slack), "{err:?}");
    assert_eq!(err.to_string(), format!("reading SSM parameter {slack}: it does not exist"));
    assert!(!err.retryable());
}
