//! Topic config changes (AlterConfigs forwarded by brokers).

use super::*;
use crate::cluster::records::ConfigResource;

/// (key, value or `None` to remove) of one topic.
type Keys<'a> = &'a [(&'a str, Option<&'a str>)];

fn alter(topics: &[(&str, Keys)]) -> Request {
    Request::AlterConfigs(AlterConfigsRequest {
        topics: topics
            .iter()
            .map(|(name, keys)| {
                let keys = keys
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                    .collect();
                (name.to_string(), keys)
            })
            .collect(),
    })
}

#[test]
fn config_changes_are_written_per_topic_and_refusals_write_nothing() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    h.create_topic_with("t", 1, 1, vec![("retention.ms".into(), "1000".into())])
        .unwrap();
    h.create_topic("u", 1, 1).unwrap();
    let reply = h.call(alter(&[
        (
            "t",
            &[("retention.ms", None), ("segment.bytes", Some("1048576"))],
        ),
        ("missing", &[("retention.ms", Some("1"))]),
        ("u", &[("retention.ms", Some("soon"))]),
    ]));
    assert_eq!(
        reply,
        Reply::AlterConfigs(vec![
            ("t".into(), Ok(())),
            (
                "missing".into(),
                Err(ResponseError::UnknownTopicOrPartition)
            ),
            ("u".into(), Err(ResponseError::InvalidConfig)),
        ])
    );
    let configs = |name: &str| {
        h.image()
            .configs_of(&ConfigResource::Topic(name.into()))
            .cloned()
    };
    let t = configs("t").unwrap();
    assert_eq!(t.get("segment.bytes").map(String::as_str), Some("1048576"));
    assert!(!t.contains_key("retention.ms"), "{t:?}");
    assert_eq!(configs("u"), None);
    let twice = h.call(alter(&[("u", &[]), ("u", &[])]));
    assert_eq!(
        twice,
        Reply::AlterConfigs(vec![
            ("u".into(), Err(ResponseError::InvalidRequest)),
            ("u".into(), Err(ResponseError::InvalidRequest)),
        ])
    );
}
