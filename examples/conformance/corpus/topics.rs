//! Topic administration: create (good and bad), metadata, configs, partitions, delete.

use super::{await_topic, await_topic_gone, name, step, step_at, text, topic, topic_id, version};
use crate::run::{Payload, Runner, MAIN_CONNECTION};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;

/// Kafka's resource type code for a topic in config requests.
const RESOURCE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs operation SET.
const CONFIG_SET: i8 = 0;
const TIMEOUT_MS: i32 = 30_000;
/// An old Metadata version that Kafka 4 still serves (v0-v3 were removed by KIP-896).
const METADATA_OLD_VERSION: i16 = 4;
/// The first DeleteTopics version with topic ids (`topics` rows instead of `topic_names`).
const DELETE_TOPICS_BY_ID_VERSION: i16 = 6;
/// An API key no Kafka version defines.
const UNKNOWN_API_KEY: i16 = 999;
/// A version no API reaches.
const UNSUPPORTED_VERSION: i16 = 999;

/// A refused (or questionable) create: step name, topic suffix, partitions, replication
/// factor and configs.
type BadCreate = (
    &'static str,
    &'static str,
    i32,
    i16,
    &'static [(&'static str, &'static str)],
);

/// Runs the topic sequences.
pub fn run(runner: &mut Runner) -> Result<(), String> {
    create_and_describe(runner)?;
    bad_creates(runner);
    configs(runner)?;
    partitions_and_delete(runner)?;
    delete_rules(runner)?;
    unsupported(runner);
    Ok(())
}

/// A CreateTopics request for one topic.
pub fn create(
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> CreateTopicsRequest {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(text(k))
                .with_value(Some(text(v)))
        })
        .collect();
    CreateTopicsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication)
            .with_configs(configs)])
}

/// A Metadata request for `names`, without auto-creation.
pub fn metadata(names: &[&str]) -> MetadataRequest {
    let topics = names
        .iter()
        .map(|n| MetadataRequestTopic::default().with_name(Some(topic(n))))
        .collect();
    MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(false)
}

fn create_and_describe(runner: &mut Runner) -> Result<(), String> {
    let seq = "create";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    step(
        runner,
        "create 3 partitions",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&t, 3, 1, &[])),
    );
    await_topic(runner, &t, Some(3))?;
    step(
        runner,
        "create again: TOPIC_ALREADY_EXISTS",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&t, 3, 1, &[])),
    );
    step(runner, "metadata of the topic", ApiKey::Metadata, |_, _| {
        Ok(metadata(&[&t]))
    });
    let missing = name(runner, seq, "missing");
    step(
        runner,
        "metadata of a missing topic",
        ApiKey::Metadata,
        |_, _| Ok(metadata(&[&missing])),
    );
    step_at(
        runner,
        "metadata v4 of the topic",
        ApiKey::Metadata,
        METADATA_OLD_VERSION,
        |_, _| Ok(metadata(&[&t])),
    );
    let validated = name(runner, seq, "validated");
    step(
        runner,
        "create validate_only",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&validated, 2, 1, &[]).with_validate_only(true)),
    );
    step(
        runner,
        "metadata after validate_only",
        ApiKey::Metadata,
        |_, _| Ok(metadata(&[&validated])),
    );
    let defaults = name(runner, seq, "defaults");
    step(
        runner,
        "create with default partitions and replication",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&defaults, -1, -1, &[])),
    );
    await_topic(runner, &defaults, None)?;
    step(
        runner,
        "metadata of the default-sized topic",
        ApiKey::Metadata,
        |_, _| Ok(metadata(&[&defaults])),
    );
    Ok(())
}

fn bad_creates(runner: &mut Runner) {
    let seq = "badcreate";
    runner.begin(seq);
    let cases: [BadCreate; 10] = [
        ("zero partitions: INVALID_PARTITIONS", "p0", 0, 1, &[]),
        (
            "replication 3 on one node: INVALID_REPLICATION_FACTOR",
            "rf3",
            1,
            3,
            &[],
        ),
        (
            "bad cleanup.policy: INVALID_CONFIG",
            "policy",
            1,
            1,
            &[("cleanup.policy", "bogus")],
        ),
        (
            "unknown config key: INVALID_CONFIG",
            "unknownkey",
            1,
            1,
            &[("no.such.config", "1")],
        ),
        (
            "retention.ms not a number: INVALID_CONFIG",
            "retention",
            1,
            1,
            &[("retention.ms", "soon")],
        ),
        (
            "compression.type zstd",
            "zstd",
            1,
            1,
            &[("compression.type", "zstd")],
        ),
        (
            "min.cleanable.dirty.ratio",
            "ratio",
            1,
            1,
            &[("min.cleanable.dirty.ratio", "0.3")],
        ),
        (
            "max.message.bytes -5: INVALID_CONFIG",
            "maxbytes",
            1,
            1,
            &[("max.message.bytes", "-5")],
        ),
        (
            "remote.copy.lag.ms -2: INVALID_CONFIG",
            "copylag",
            1,
            1,
            &[("remote.copy.lag.ms", "-2")],
        ),
        (
            "the keys Kafka 4.4 added",
            "new44",
            1,
            1,
            &[
                ("errors.deadletterqueue.group.enable", "true"),
                ("max.decompressed.message.bytes", "1000000"),
                ("remote.copy.lag.bytes", "1000"),
                ("remote.copy.lag.ms", "60000"),
            ],
        ),
    ];
    for (step_name, suffix, partitions, replication, configs) in cases {
        let t = name(runner, seq, suffix);
        step(runner, step_name, ApiKey::CreateTopics, |_, _| {
            Ok(create(&t, partitions, replication, configs))
        });
    }
    for (step_name, bad) in [
        ("name with '/': INVALID_TOPIC_EXCEPTION", "bad/name"),
        ("name '..'", ".."),
    ] {
        step(runner, step_name, ApiKey::CreateTopics, |_, _| {
            Ok(create(bad, 1, 1, &[]))
        });
    }
    let long = format!("{}{}", runner.scope, "x".repeat(250));
    step(
        runner,
        "name of 250+ characters: INVALID_TOPIC_EXCEPTION",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&long, 1, 1, &[])),
    );
}

fn describe(name: &str, keys: Option<&[&str]>) -> DescribeConfigsRequest {
    let keys = keys.map(|ks| ks.iter().map(|k| text(k)).collect());
    DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(text(name))
        .with_configuration_keys(keys)])
}

fn alter(name: &str, key: &str, value: &str) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(text(name))
        .with_configs(vec![AlterableConfig::default()
            .with_name(text(key))
            .with_config_operation(CONFIG_SET)
            .with_value(Some(text(value)))])])
}

fn configs(runner: &mut Runner) -> Result<(), String> {
    let seq = "configs";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    step(
        runner,
        "create with retention.ms",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&t, 1, 1, &[("retention.ms", "3600000")])),
    );
    await_topic(runner, &t, Some(1))?;
    let keys = [
        "retention.ms",
        "cleanup.policy",
        "segment.bytes",
        "max.message.bytes",
        "message.timestamp.type",
    ];
    step(
        runner,
        "describe chosen keys",
        ApiKey::DescribeConfigs,
        |_, _| Ok(describe(&t, Some(&keys))),
    );
    step(
        runner,
        "describe every key with documentation and synonyms",
        ApiKey::DescribeConfigs,
        |_, _| {
            Ok(describe(&t, None)
                .with_include_synonyms(true)
                .with_include_documentation(true))
        },
    );
    step(
        runner,
        "describe an unknown key",
        ApiKey::DescribeConfigs,
        |_, _| Ok(describe(&t, Some(&["no.such.config"]))),
    );
    step(
        runner,
        "set retention.bytes",
        ApiKey::IncrementalAlterConfigs,
        |_, _| Ok(alter(&t, "retention.bytes", "1048576")),
    );
    await_config(runner, &t, "retention.bytes", "1048576")?;
    step(
        runner,
        "set retention.bytes to a word: INVALID_CONFIG",
        ApiKey::IncrementalAlterConfigs,
        |_, _| Ok(alter(&t, "retention.bytes", "lots")),
    );
    step(
        runner,
        "set an unknown key: INVALID_CONFIG",
        ApiKey::IncrementalAlterConfigs,
        |_, _| Ok(alter(&t, "no.such.config", "1")),
    );
    step(
        runner,
        "describe after alter",
        ApiKey::DescribeConfigs,
        |_, _| Ok(describe(&t, Some(&["retention.bytes", "retention.ms"]))),
    );
    let missing = name(runner, seq, "missing");
    step(
        runner,
        "describe a missing topic",
        ApiKey::DescribeConfigs,
        |_, _| Ok(describe(&missing, None)),
    );
    step(
        runner,
        "alter a missing topic",
        ApiKey::IncrementalAlterConfigs,
        |_, _| Ok(alter(&missing, "retention.ms", "1000")),
    );
    Ok(())
}

/// Waits until DescribeConfigs on both brokers shows `key` = `value` for topic `name`: Kafka
/// applies an alter through its controller, and describes what its broker has caught up with.
fn await_config(runner: &mut Runner, name: &str, key: &str, value: &str) -> Result<(), String> {
    let v = version(runner, ApiKey::DescribeConfigs).ok_or("no common DescribeConfigs version")?;
    runner.settle(
        &format!("DescribeConfigs shows {key}={value} for topic {name}"),
        ApiKey::DescribeConfigs,
        v,
        describe(name, Some(&[key])).into(),
        |answer| match answer {
            ResponseKind::DescribeConfigs(r) => r
                .results
                .iter()
                .flat_map(|resource| &resource.configs)
                .any(|c| c.name.as_str() == key && c.value.as_deref() == Some(value)),
            _ => false,
        },
    )
}

fn partitions_and_delete(runner: &mut Runner) -> Result<(), String> {
    let seq = "partitions";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    let grow = |count: i32| {
        let t = t.clone();
        move |_: &crate::run::Target, _| -> Result<CreatePartitionsRequest, String> {
            Ok(CreatePartitionsRequest::default()
                .with_timeout_ms(TIMEOUT_MS)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(topic(&t))
                    .with_count(count)
                    .with_assignments(None)]))
        }
    };
    step(
        runner,
        "create 1 partition",
        ApiKey::CreateTopics,
        |_, _| Ok(create(&t, 1, 1, &[])),
    );
    await_topic(runner, &t, Some(1))?;
    step(runner, "grow to 3", ApiKey::CreatePartitions, grow(3));
    await_topic(runner, &t, Some(3))?;
    step(
        runner,
        "shrink to 2: INVALID_PARTITIONS",
        ApiKey::CreatePartitions,
        grow(2),
    );
    step(
        runner,
        "same count: INVALID_PARTITIONS",
        ApiKey::CreatePartitions,
        grow(3),
    );
    step(
        runner,
        "metadata after growing",
        ApiKey::Metadata,
        |_, _| Ok(metadata(&[&t])),
    );
    let delete = |victim: String| {
        move |_: &crate::run::Target, v: i16| -> Result<DeleteTopicsRequest, String> {
            let request = DeleteTopicsRequest::default().with_timeout_ms(TIMEOUT_MS);
            Ok(if v >= 6 {
                request.with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic(&victim)))
                ])
            } else {
                request.with_topic_names(vec![topic(&victim)])
            })
        }
    };
    step(runner, "delete", ApiKey::DeleteTopics, delete(t.clone()));
    await_topic_gone(runner, &t)?;
    let missing = name(runner, seq, "missing");
    step(
        runner,
        "delete a missing topic",
        ApiKey::DeleteTopics,
        delete(missing),
    );
    if let Some(v) = version(runner, ApiKey::Metadata) {
        step_at(
            runner,
            "metadata after delete",
            ApiKey::Metadata,
            v,
            |_, _| Ok(metadata(&[&t])),
        );
    }
    Ok(())
}

/// A DeleteTopics v6 row: its name (`None`: null), and the topic whose id it carries (`None`:
/// the zero id).
type DeleteRow = (Option<String>, Option<String>);

/// DeleteTopics v6 of `rows`: the ids differ between the brokers, so each broker's request
/// carries the ids that broker gave the topics.
fn delete_rows(
    rows: Vec<DeleteRow>,
) -> impl Fn(&crate::run::Target, i16) -> Result<DeleteTopicsRequest, String> {
    move |target, _| {
        let mut states = Vec::with_capacity(rows.len());
        for (name, id_of) in &rows {
            let id = match id_of {
                Some(of) => topic_id(target, of)?,
                None => uuid::Uuid::nil(),
            };
            states.push(
                DeleteTopicState::default()
                    .with_name(name.as_deref().map(topic))
                    .with_topic_id(id),
            );
        }
        Ok(DeleteTopicsRequest::default()
            .with_timeout_ms(TIMEOUT_MS)
            .with_topics(states))
    }
}

/// DeleteTopics v6 rows that Kafka's controller refuses (`ControllerApis.deleteTopics`):
/// neither a name nor an id, both, a name or an id twice, a topic by name and by id. Each
/// refused topic stays, and one row answers each name or id, not each repeat. No step has two
/// rows of one name (or two of a null name): Kafka shuffles its rows, and rows of one label
/// are compared in order.
fn delete_rules(runner: &mut Runner) -> Result<(), String> {
    let seq = "deleterules";
    runner.begin(seq);
    let t = name(runner, seq, "t");
    let u = name(runner, seq, "u");
    step(runner, "create t", ApiKey::CreateTopics, |_, _| {
        Ok(create(&t, 1, 1, &[]))
    });
    await_topic(runner, &t, Some(1))?;
    step(runner, "create u", ApiKey::CreateTopics, |_, _| {
        Ok(create(&u, 1, 1, &[]))
    });
    await_topic(runner, &u, Some(1))?;
    let by_name: DeleteRow = (Some(t.clone()), None);
    let by_id: DeleteRow = (None, Some(t.clone()));
    let refusals: [(&str, Vec<DeleteRow>); 6] = [
        (
            "delete neither a name nor an id: INVALID_REQUEST",
            vec![(None, None)],
        ),
        (
            "delete a name and its id in one row: INVALID_REQUEST",
            vec![(Some(t.clone()), Some(t.clone()))],
        ),
        (
            "delete by name, then by id: INVALID_REQUEST on the name alone, kept",
            vec![by_name.clone(), by_id.clone()],
        ),
        (
            "delete by id, then by name: INVALID_REQUEST on the name alone, kept",
            vec![by_id.clone(), by_name.clone()],
        ),
        (
            "delete a name twice: one INVALID_REQUEST, kept",
            vec![by_name.clone(), by_name.clone()],
        ),
        (
            "delete an id twice, its name and another topic: the other alone deleted",
            vec![
                by_id.clone(),
                by_name,
                by_id.clone(),
                (Some(u.clone()), None),
            ],
        ),
    ];
    for (step_name, rows) in refusals {
        step_at(
            runner,
            step_name,
            ApiKey::DeleteTopics,
            DELETE_TOPICS_BY_ID_VERSION,
            delete_rows(rows),
        );
    }
    await_topic_gone(runner, &u)?;
    step(
        runner,
        "metadata: the refused topic stays",
        ApiKey::Metadata,
        |_, _| Ok(metadata(&[&t])),
    );
    step_at(
        runner,
        "delete the refused topic by id",
        ApiKey::DeleteTopics,
        DELETE_TOPICS_BY_ID_VERSION,
        delete_rows(vec![by_id]),
    );
    await_topic_gone(runner, &t)
}

/// A raw request header (v1: key, version, correlation id, client id) and an empty body.
fn raw_header(api_key: i16, api_version: i16) -> Bytes {
    let client = crate::wire::CLIENT_ID.as_bytes();
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(api_version);
    buf.put_i32(1);
    buf.put_i16(client.len() as i16);
    buf.put_slice(client);
    buf.freeze()
}

fn unsupported(runner: &mut Runner) {
    runner.begin("unsupported");
    let cases = [
        (
            "ApiVersions v999: UNSUPPORTED_VERSION in a v0 answer",
            ApiKey::ApiVersions,
            ApiKey::ApiVersions as i16,
        ),
        ("Metadata v999", ApiKey::Metadata, ApiKey::Metadata as i16),
        ("Produce v999", ApiKey::Produce, ApiKey::Produce as i16),
        ("Fetch v999", ApiKey::Fetch, ApiKey::Fetch as i16),
        (
            "JoinGroup v999",
            ApiKey::JoinGroup,
            ApiKey::JoinGroup as i16,
        ),
        (
            "OffsetCommit v999",
            ApiKey::OffsetCommit,
            ApiKey::OffsetCommit as i16,
        ),
    ];
    for (step_name, api, key) in cases {
        runner.step(step_name, api, UNSUPPORTED_VERSION, MAIN_CONNECTION, |_| {
            Ok(Payload::Raw(raw_header(key, UNSUPPORTED_VERSION)))
        });
    }
    runner.step(
        "api key 999",
        ApiKey::ApiVersions,
        0,
        MAIN_CONNECTION,
        |_| Ok(Payload::Raw(raw_header(UNKNOWN_API_KEY, 0))),
    );
    step(
        runner,
        "metadata after the bad requests",
        ApiKey::Metadata,
        |_, _| Ok(metadata(&[])),
    );
}
