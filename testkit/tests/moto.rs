//! The harness itself: a server starts on a free port, answers, hands out
//! certificates, and is gone when dropped; its DynamoDB keeps DynamoDB's
//! transactions' isolation.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::HashMap;

use aws_sdk_dynamodb as dynamodb;
use dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ScalarAttributeType, TransactWriteItem,
};
use testkit::Moto;

#[test]
fn starts_answers_and_issues_certificates() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"));
    let arn = moto.certificate("*.example.com", "us-west-2").unwrap();
    assert!(
        arn.starts_with("arn:aws:acm:us-west-2:123456789012:certificate/"),
        "{arn}"
    );
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    drop(moto);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server must stop with the value"
    );
}

/// Items each writer adds beside the transactions.
const WRITES: usize = 500;

/// DynamoDB runs transactions in isolation: one refused for its condition is refused
/// for that, changes nothing and undoes nobody else's write, whatever runs beside it.
/// moto, as shipped, copies the tables a transaction touches before running it (a
/// write on another thread of its server meanwhile fails the copy: an internal error)
/// and restores that copy when the transaction is refused (a write that landed in
/// between is lost). The history tests' two tabs lost one tab's whole exchange that
/// way. The harness's server runs DynamoDB's requests one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transaction_undoes_no_other_write() {
    let moto = Moto::start().unwrap();
    let config = moto.sdk_config("us-east-1");
    let client = dynamodb::Client::new(&config);
    // The transactions' own client does not retry: each answer is the emulator's.
    let once = dynamodb::Client::from_conf(
        dynamodb::config::Builder::from(&config)
            .retry_config(dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    );
    create_table(&client, "t").await;
    for i in 0..20 {
        put(&client, "t", format!("seed#{i:02}")).await.unwrap();
    }

    // Writers add items while transactions are refused, one after the other, until
    // the writers are done.
    let writers: Vec<_> = (0..3)
        .map(|writer| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..WRITES {
                    let sk = format!("new#{writer}#{i:04}");
                    put(&client, "t", sk.clone()).await.unwrap();
                    written.push(sk);
                }
                written
            })
        })
        .collect();
    let mut refusals = Vec::new();
    while refusals.len() < 10 || !writers.iter().all(|w| w.is_finished()) {
        refusals.push(refused_transaction(&once, "t", refusals.len()).await);
    }
    let mut written = Vec::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let kept = keys_beginning(&client, "t", "new#").await;
    let undone: Vec<&String> = written.iter().filter(|sk| !kept.contains(*sk)).collect();
    let refused_otherwise: Vec<&String> = refusals
        .iter()
        .filter(|code| *code != "TransactionCanceledException")
        .collect();
    assert!(
        undone.is_empty() && refused_otherwise.is_empty(),
        "{} of {} writes undone by refused transactions: {undone:?}; \
         {} of {} transactions failed for another reason than their condition: {refused_otherwise:?}",
        undone.len(),
        written.len(),
        refused_otherwise.len(),
        refusals.len(),
    );
    assert!(
        keys_beginning(&client, "t", "refused#").await.is_empty(),
        "a refused transaction's own writes stay undone"
    );
}

async fn create_table(client: &dynamodb::Client, table: &str) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap();
}

fn item(sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S("p".into())),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

async fn put(
    client: &dynamodb::Client,
    table: &str,
    sk: String,
) -> Result<(), dynamodb::error::SdkError<dynamodb::operation::put_item::PutItemError>> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item(sk)))
        .send()
        .await
        .map(drop)
}

/// A transaction of a few writes and a condition that cannot hold (an absent item
/// exists); the error code it fails with.
async fn refused_transaction(client: &dynamodb::Client, table: &str, attempt: usize) -> String {
    let writes = (0..3).map(|i| {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item(format!("refused#{attempt:03}#{i}"))))
            .build()
            .unwrap();
        TransactWriteItem::builder().put(put).build()
    });
    let check = ConditionCheck::builder()
        .table_name(table)
        .key("pk", AttributeValue::S("p".into()))
        .key("sk", AttributeValue::S("absent".into()))
        .condition_expression("attribute_exists(sk)")
        .build()
        .unwrap();
    let check = TransactWriteItem::builder().condition_check(check).build();
    let sent = client
        .transact_write_items()
        .set_transact_items(Some(writes.chain([check]).collect()))
        .send()
        .await;
    match sent {
        Ok(_) => "accepted".into(),
        Err(e) => e
            .as_service_error()
            .and_then(|e| e.meta().code())
            .map_or_else(
                || format!("{e:?}").chars().take(200).collect(),
                str::to_string,
            ),
    }
}

/// Sort keys of the items whose sort key begins with `prefix`.
async fn keys_beginning(client: &dynamodb::Client, table: &str, prefix: &str) -> Vec<String> {
    client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :p AND begins_with(sk, :prefix)")
        .expression_attribute_values(":p", AttributeValue::S("p".into()))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .filter_map(|item| item.get("sk")?.as_s().ok().cloned())
        .collect()
}
