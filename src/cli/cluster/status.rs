//! `millrace cluster status`: brokers with their fenced state, the
//! controller leader and the metadata offset, from DescribeCluster and
//! DescribeQuorum over the Kafka protocol (any KRaft cluster: millrace's or
//! Apache Kafka's).

use crate::cli::console::{connect, parse_args, run_command, CommandError};
use crate::client::cluster_admin::{
    ClusterDescription, QuorumDescription, QuorumReplica, METADATA_TOPIC,
};
use crate::client::ClientError;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Usage text of `millrace cluster status`.
pub const STATUS_USAGE: &str = "  millrace cluster status [--bootstrap HOST:PORT]
      The cluster id, each broker with its address and fenced state, the
      controller leader, the metadata offset (the high watermark of
      __cluster_metadata) and each quorum member's log end and lag
      (DescribeCluster and DescribeQuorum: any KRaft cluster).
";

/// Shown for a value the broker did not give.
const UNKNOWN_CELL: &str = "-";

/// Runs `cluster status ARGS...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    run_command(
        "cluster status",
        STATUS_USAGE,
        args,
        |args| {
            let parsed = parse_args(args, &[], &[])?;
            if !parsed.positional.is_empty() {
                return Err(format!(
                    "status takes no arguments, got {:?}",
                    parsed.positional
                ));
            }
            Ok(parsed.bootstrap())
        },
        |bootstrap| execute(bootstrap),
    )
}

fn execute(bootstrap: &str) -> Result<(), CommandError> {
    let mut client = connect(bootstrap)?;
    let cluster = client.describe_cluster()?;
    // A broker without the API (a single millrace node today) still gets
    // the rest of the status; any other failure is the command's.
    let quorum = match client.describe_quorum() {
        Ok(quorum) => Ok(quorum),
        Err(ClientError::Protocol(why)) => Err(why),
        Err(e) => return Err(e.into()),
    };
    print!("{}", status_text(&cluster, quorum.as_ref(), now_ms()));
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn fenced_cell(fenced: Option<bool>) -> &'static str {
    match fenced {
        Some(true) => "yes",
        Some(false) => "no",
        None => UNKNOWN_CELL,
    }
}

fn ago(timestamp_ms: i64, now_ms: i64) -> String {
    if timestamp_ms < 0 {
        UNKNOWN_CELL.to_string()
    } else {
        format!("{} ms ago", (now_ms - timestamp_ms).max(0))
    }
}

/// The status text: a header, a tab-separated broker table and, when the
/// broker serves DescribeQuorum, a table of quorum members.
fn status_text(
    cluster: &ClusterDescription,
    quorum: Result<&QuorumDescription, &String>,
    now_ms: i64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Cluster id: {}", cluster.cluster_id);
    match quorum {
        Ok(q) => {
            let _ = writeln!(
                out,
                "Controller leader: {}\tepoch {}",
                q.leader_id, q.leader_epoch
            );
            let _ = writeln!(
                out,
                "Metadata offset: {}\t(high watermark of {METADATA_TOPIC})",
                q.high_watermark
            );
        }
        Err(why) => {
            let _ = writeln!(out, "Controller leader: {}", cluster.controller_id);
            let _ = writeln!(
                out,
                "Metadata offset: {UNKNOWN_CELL}\t(no DescribeQuorum: {why})"
            );
        }
    }
    let _ = writeln!(out, "Brokers: {}", cluster.brokers.len());
    let _ = writeln!(out, "ID\tADDRESS\tRACK\tFENCED");
    let mut brokers = cluster.brokers.clone();
    brokers.sort_by_key(|b| b.node_id);
    for b in &brokers {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            b.node_id,
            b.address,
            b.rack.as_deref().unwrap_or(UNKNOWN_CELL),
            fenced_cell(b.fenced)
        );
    }
    if let Ok(q) = quorum {
        quorum_table(&mut out, q, now_ms);
    }
    out
}

fn quorum_table(out: &mut String, q: &QuorumDescription, now_ms: i64) {
    let leader_end = q
        .voters
        .iter()
        .find(|v| v.node_id == q.leader_id)
        .map_or(q.high_watermark, |v| v.log_end_offset);
    let _ = writeln!(
        out,
        "Quorum members: {} voters, {} observers",
        q.voters.len(),
        q.observers.len()
    );
    let _ = writeln!(out, "ID\tROLE\tLOG END OFFSET\tLAG\tLAST FETCH");
    let mut rows: Vec<(&QuorumReplica, &str)> = q
        .voters
        .iter()
        .map(|v| {
            (
                v,
                if v.node_id == q.leader_id {
                    "leader"
                } else {
                    "voter"
                },
            )
        })
        .chain(q.observers.iter().map(|o| (o, "observer")))
        .collect();
    rows.sort_by_key(|(r, _)| r.node_id);
    for (r, role) in rows {
        let lag = if r.log_end_offset < 0 {
            UNKNOWN_CELL.to_string()
        } else {
            (leader_end - r.log_end_offset).max(0).to_string()
        };
        let _ = writeln!(
            out,
            "{}\t{role}\t{}\t{lag}\t{}",
            r.node_id,
            r.log_end_offset,
            if role == "leader" {
                UNKNOWN_CELL.to_string()
            } else {
                ago(r.last_fetch_timestamp_ms, now_ms)
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::cluster_admin::ClusterBroker;

    fn replica(node_id: i32, log_end_offset: i64, last_fetch: i64) -> QuorumReplica {
        QuorumReplica {
            node_id,
            log_end_offset,
            last_fetch_timestamp_ms: last_fetch,
            last_caught_up_timestamp_ms: last_fetch,
        }
    }

    fn cluster() -> ClusterDescription {
        ClusterDescription {
            cluster_id: "abc".into(),
            controller_id: 2,
            brokers: vec![
                ClusterBroker {
                    node_id: 2,
                    address: "h:2".into(),
                    rack: None,
                    fenced: Some(true),
                },
                ClusterBroker {
                    node_id: 1,
                    address: "h:1".into(),
                    rack: Some("r1".into()),
                    fenced: Some(false),
                },
            ],
        }
    }

    #[test]
    fn shows_brokers_fencing_leader_offset_and_lag() {
        let quorum = QuorumDescription {
            leader_id: 1,
            leader_epoch: 4,
            high_watermark: 90,
            voters: vec![replica(1, 100, 1_000), replica(2, 95, 900)],
            observers: vec![replica(4, -1, -1)],
        };
        assert_eq!(
            status_text(&cluster(), Ok(&quorum), 1_000),
            "Cluster id: abc\n\
             Controller leader: 1\tepoch 4\n\
             Metadata offset: 90\t(high watermark of __cluster_metadata)\n\
             Brokers: 2\n\
             ID\tADDRESS\tRACK\tFENCED\n\
             1\th:1\tr1\tno\n\
             2\th:2\t-\tyes\n\
             Quorum members: 2 voters, 1 observers\n\
             ID\tROLE\tLOG END OFFSET\tLAG\tLAST FETCH\n\
             1\tleader\t100\t0\t-\n\
             2\tvoter\t95\t5\t100 ms ago\n\
             4\tobserver\t-1\t-\t-\n"
        );
    }

    #[test]
    fn without_describe_quorum_the_offset_is_unknown_and_says_why() {
        let why = "DescribeQuorum not supported".to_string();
        let text = status_text(&cluster(), Err(&why), 0);
        assert!(text.contains("Controller leader: 2\n"), "{text}");
        assert!(
            text.contains("Metadata offset: -\t(no DescribeQuorum: DescribeQuorum not supported)"),
            "{text}"
        );
    }
}
