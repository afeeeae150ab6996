//! Durable storage of the topic registry and of the broker identity.
//!
//! Files in the data directory:
//! - `__millrace_topics` : one line per topic, tab-separated
//!   (`topic <name> <uuid> <partitions> key=value...`), replaced atomically
//!   (write a temporary file, fdatasync, rename, fsync the directory).
//! - `meta.properties` : `cluster.id` and `node.id`, as Kafka writes it.
//!
//! These functions block; callers on a reactor run them on a blocking thread.

use super::kafka_uuid::random_kafka_uuid;
use super::topic_table::{TopicMeta, TopicTable};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// File name of the topic registry inside the data directory.
pub const TOPICS_FILE_NAME: &str = "__millrace_topics";
/// File name of the broker identity inside the data directory.
pub const META_PROPERTIES_FILE_NAME: &str = "meta.properties";
const TOPICS_FILE_HEADER: &str = "# millrace topic registry, format 1";

/// Errors reading or writing the registry.
#[derive(Debug)]
pub enum StoreError {
    /// The file system refused.
    Io(PathBuf, io::Error),
    /// A line of a registry file could not be parsed.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(path, err) => write!(f, "{}: {err}", path.display()),
            // Line 0: the whole file is wrong (identity mismatch), not one line.
            StoreError::Corrupt {
                path,
                line: 0,
                reason,
            } => {
                write!(f, "{}: {reason}", path.display())
            }
            StoreError::Corrupt { path, line, reason } => {
                write!(f, "{} line {line}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// Loads the topic registry; a missing file is an empty registry.
pub fn load_topics(data_dir: &Path) -> Result<TopicTable, StoreError> {
    let path = data_dir.join(TOPICS_FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(TopicTable::default()),
        Err(err) => return Err(StoreError::Io(path, err)),
    };
    let mut version = 0;
    let mut topics = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            line: index + 1,
            reason,
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(value) = line.strip_prefix("version=") {
            version = value
                .parse()
                .map_err(|_| corrupt(format!("bad version {value:?}")))?;
            continue;
        }
        topics.push(parse_topic_line(line).map_err(corrupt)?);
    }
    Ok(TopicTable::from_topics(version, topics))
}

fn parse_topic_line(line: &str) -> Result<TopicMeta, String> {
    let mut fields = line.split('\t');
    if fields.next() != Some("topic") {
        return Err("expected a line starting with 'topic'".into());
    }
    let name = fields.next().ok_or("missing topic name")?.to_string();
    let id_text = fields.next().ok_or("missing topic id")?;
    let id = Uuid::parse_str(id_text).map_err(|err| format!("bad topic id: {err}"))?;
    let partitions_text = fields.next().ok_or("missing partition count")?;
    let partitions = partitions_text
        .parse()
        .map_err(|_| format!("bad partition count {partitions_text:?}"))?;
    let mut configs = BTreeMap::new();
    for pair in fields {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("bad config {pair:?}"))?;
        configs.insert(key.to_string(), value.to_string());
    }
    Ok(TopicMeta {
        name,
        id,
        partitions,
        configs,
    })
}

/// Writes the registry durably (temporary file, fdatasync, rename, fsync dir).
pub fn save_topics(data_dir: &Path, table: &TopicTable) -> Result<(), StoreError> {
    let mut text = format!("{TOPICS_FILE_HEADER}\nversion={}\n", table.version);
    for topic in table.iter() {
        text.push_str(&format!(
            "topic\t{}\t{}\t{}",
            topic.name, topic.id, topic.partitions
        ));
        for (key, value) in &topic.configs {
            text.push_str(&format!("\t{key}={value}"));
        }
        text.push('\n');
    }
    write_atomically(data_dir, TOPICS_FILE_NAME, text.as_bytes())
}

/// Replaces `data_dir/name` with `contents` so that a crash leaves either the
/// old or the new file, never a torn one (`storage::atomic_file`).
pub fn write_atomically(data_dir: &Path, name: &str, contents: &[u8]) -> Result<(), StoreError> {
    crate::storage::atomic_file::write_atomically(data_dir, name, contents)
        .map_err(|err| StoreError::Io(data_dir.join(name), err))
}

/// The broker's identity, persisted in `meta.properties`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerIdentity {
    /// Cluster id (22-character base64 of a UUID, as Kafka generates).
    pub cluster_id: String,
    /// This broker's node id.
    pub node_id: i32,
}

/// Reads `meta.properties`, or creates it with a new cluster id (or the
/// configured one). A node id that differs from the stored one is an error:
/// the data directory belongs to another broker.
pub fn load_or_create_identity(
    data_dir: &Path,
    node_id: i32,
    configured_cluster_id: Option<&str>,
) -> Result<BrokerIdentity, StoreError> {
    let path = data_dir.join(META_PROPERTIES_FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => parse_identity(&path, &text, node_id, configured_cluster_id),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let cluster_id = configured_cluster_id
                .map(str::to_string)
                .unwrap_or_else(new_cluster_id);
            let text = format!("version=1\ncluster.id={cluster_id}\nnode.id={node_id}\n");
            write_atomically(data_dir, META_PROPERTIES_FILE_NAME, text.as_bytes())?;
            Ok(BrokerIdentity {
                cluster_id,
                node_id,
            })
        }
        Err(err) => Err(StoreError::Io(path, err)),
    }
}

/// Reads an identity written by millrace or by Kafka's `kafka-storage
/// format` (which adds comments and `directory.id`); refuses one that names
/// another node or another configured cluster.
fn parse_identity(
    path: &Path,
    text: &str,
    node_id: i32,
    configured_cluster_id: Option<&str>,
) -> Result<BrokerIdentity, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        line: 0,
        reason,
    };
    let value_of = |key: &str| {
        text.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(key)?
                    .trim_start()
                    .strip_prefix('=')
            })
            .map(str::trim)
    };
    let cluster_id = value_of("cluster.id")
        .ok_or_else(|| corrupt("no cluster.id".into()))?
        .to_string();
    let stored_node_id: i32 = value_of("node.id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("no valid node.id".into()))?;
    if stored_node_id != node_id {
        return Err(corrupt(format!(
            "data directory belongs to node.id {stored_node_id}, but this broker is configured \
             as node.id {node_id}: set node.id={stored_node_id}, or use another log.dirs"
        )));
    }
    if let Some(configured) = configured_cluster_id.filter(|id| *id != cluster_id) {
        return Err(corrupt(format!(
            "data directory belongs to cluster.id {cluster_id}, but this broker is configured \
             with cluster.id {configured}: set cluster.id={cluster_id} (or remove it), or use \
             another log.dirs"
        )));
    }
    Ok(BrokerIdentity {
        cluster_id,
        node_id,
    })
}

/// A new cluster id: a random UUID in URL-safe base64 without padding (22 characters).
fn new_cluster_id() -> String {
    cluster_id_of(random_kafka_uuid().into_bytes())
}

/// A cluster id in Kafka's form: 16 bytes, base64url without padding.
pub fn cluster_id_of(bytes: [u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    let mut out = String::with_capacity(22);
    for byte in bytes {
        bits = (bits << 8) | byte as u32;
        bit_count += 8;
        while bit_count >= 6 {
            bit_count -= 6;
            out.push(ALPHABET[((bits >> bit_count) & 63) as usize] as char);
        }
    }
    if bit_count > 0 {
        out.push(ALPHABET[((bits << (6 - bit_count)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("millrace-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn topics_round_trip() {
        let dir = temp_dir("topics");
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "1000".to_string());
        let topic = TopicMeta {
            name: "t1".into(),
            id: Uuid::new_v4(),
            partitions: 6,
            configs,
        };
        let table = TopicTable::default().with_topic(topic.clone());
        save_topics(&dir, &table).unwrap();
        let loaded = load_topics(&dir).unwrap();
        assert_eq!(loaded.version, 1);
        assert_eq!(**loaded.get("t1").unwrap(), topic);
    }

    #[test]
    fn missing_registry_is_empty_and_corrupt_is_an_error() {
        let dir = temp_dir("corrupt");
        assert!(load_topics(&dir).unwrap().is_empty());
        fs::write(dir.join(TOPICS_FILE_NAME), "topic\tx\tnot-a-uuid\t1\n").unwrap();
        assert!(matches!(
            load_topics(&dir),
            Err(StoreError::Corrupt { line: 1, .. })
        ));
    }

    #[test]
    fn identity_is_created_once_and_checked() {
        let dir = temp_dir("identity");
        let first = load_or_create_identity(&dir, 0, None).unwrap();
        assert_eq!(first.cluster_id.len(), 22);
        assert_eq!(load_or_create_identity(&dir, 0, None).unwrap(), first);
        assert!(load_or_create_identity(&dir, 1, None).is_err());
        let configured = Some(first.cluster_id.as_str());
        assert_eq!(load_or_create_identity(&dir, 0, configured).unwrap(), first);
        let other = load_or_create_identity(&dir, 0, Some("another-cluster")).unwrap_err();
        assert!(other.to_string().contains("cluster.id"), "{other}");
    }

    #[test]
    fn identity_written_by_kafka_storage_format_is_read() {
        let dir = temp_dir("kafka-identity");
        let kafka = "#\n#Wed Dec 02 06:00:00 UTC 2026\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n\
                     directory.id=zHv4Qn4dQOi7GO3bSZ6e-A\nnode.id=1\nversion=1\n";
        fs::write(dir.join(META_PROPERTIES_FILE_NAME), kafka).unwrap();
        let identity = load_or_create_identity(&dir, 1, None).unwrap();
        assert_eq!(identity.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
        let wrong_node = load_or_create_identity(&dir, 2, None).unwrap_err();
        assert!(wrong_node.to_string().contains("node.id 1"), "{wrong_node}");
    }
}
