//! JoinGroup (key 11): routed to the shard owning the group, which answers
//! once the rebalance completes (every known member rejoined, or the
//! rebalance timeout passed).

use super::{respond, RequestMeta, VersionRange};
use crate::coordinator::{GroupRequest, GroupResponse};
use crate::protocol::piece::Piece;
use crate::shard::calls::group::call_owner;
use crate::shard::ShardContext;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 9 };

/// A member's client host as Kafka shows it (Java's `InetAddress.toString()`,
/// e.g. "/127.0.0.1", and an IPv6 address uncompressed, "/0:0:0:0:0:0:0:1");
/// "" when the peer address is unknown.
pub fn client_host(peer: Option<SocketAddr>) -> String {
    match peer.map(|addr| addr.ip()) {
        Some(IpAddr::V4(ip)) => format!("/{ip}"),
        Some(IpAddr::V6(ip)) => {
            let groups: Vec<String> = ip.segments().iter().map(|g| format!("{g:x}")).collect();
            format!("/{}", groups.join(":"))
        }
        None => String::new(),
    }
}

/// Answers a JoinGroup request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    client_id: String,
    client_host: String,
    request: JoinGroupRequest,
) -> Option<Vec<Piece>> {
    let group_id = request.group_id.0.to_string();
    let member_id = request.member_id.clone();
    let routed = GroupRequest::Join {
        request,
        version: meta.version,
        client_id,
        client_host,
    };
    let response = match call_owner(ctx, &group_id, routed).await {
        Ok(GroupResponse::Join(response)) => response,
        // NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS from the owner.
        Err(code) => JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(member_id),
        Ok(_) => JoinGroupResponse::default()
            .with_error_code(crate::coordinator::group::error_code::COORDINATOR_NOT_AVAILABLE)
            .with_generation_id(-1)
            .with_member_id(member_id),
    };
    let response = with_protocol_name_as_kafka(response, meta.version);
    respond(meta, &response)
}

/// First version where `protocol_name` is nullable.
const NULLABLE_PROTOCOL_NAME_VERSION: i16 = 7;

/// Kafka answers a failed JoinGroup with a null protocol name where the version allows it
/// (v7+), and with "" before; a successful one names the chosen protocol.
fn with_protocol_name_as_kafka(response: JoinGroupResponse, version: i16) -> JoinGroupResponse {
    let failed = response.error_code != 0;
    match (
        version >= NULLABLE_PROTOCOL_NAME_VERSION,
        response.protocol_name.is_none(),
    ) {
        (true, _) if failed => response.with_protocol_name(None),
        (false, true) => response.with_protocol_name(Some(Default::default())),
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_host_is_shown_as_java_shows_it() {
        let v4: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client_host(Some(v4)), "/127.0.0.1");
        let v6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert_eq!(client_host(Some(v6)), "/0:0:0:0:0:0:0:1");
        let lan: SocketAddr = "[fd00::2]:5000".parse().unwrap();
        assert_eq!(client_host(Some(lan)), "/fd00:0:0:0:0:0:0:2");
        assert_eq!(client_host(None), "");
    }

    #[test]
    fn failed_join_has_a_null_protocol_name_from_v7_and_an_empty_one_before() {
        let failed = JoinGroupResponse::default().with_error_code(79);
        assert_eq!(
            with_protocol_name_as_kafka(failed.clone(), 9).protocol_name,
            None
        );
        assert_eq!(
            with_protocol_name_as_kafka(failed.clone(), 7).protocol_name,
            None
        );
        let v6 = with_protocol_name_as_kafka(failed.with_protocol_name(None), 6);
        assert_eq!(v6.protocol_name.as_deref(), Some(""));
        let joined = JoinGroupResponse::default().with_protocol_name(Some("range".into()));
        assert_eq!(
            with_protocol_name_as_kafka(joined, 9)
                .protocol_name
                .as_deref(),
            Some("range")
        );
    }

    #[test]
    fn client_host_is_the_peer_ip_with_kafkas_leading_slash() {
        let peer: SocketAddr = "127.0.0.1:50123".parse().expect("address");
        assert_eq!(client_host(Some(peer)), "/127.0.0.1");
        assert_eq!(client_host(None), "");
    }
}
