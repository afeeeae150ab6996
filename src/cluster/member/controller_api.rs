//! The Kafka API a controller serves on its CONTROLLER listener (KIP-919):
//! an admin client given `bootstrap.controllers` (Kafka's
//! `kafka-metadata-quorum --bootstrap-controller`) talks to the quorum
//! directly. It opens with ApiVersions, learns the controllers from
//! DescribeCluster (endpoint type CONTROLLER), then asks DescribeQuorum.
//! The Raft RPCs share the listener (`cluster::raft::server` tells them
//! apart); requests of other APIs close the connection, as Kafka does for
//! an API a listener does not serve.

use super::quorum::QuorumOp;
use super::quorum_response::{asks_quorum, describe_quorum_response};
use super::Member;
use crate::config::listener::ListenerAddr;
use crate::protocol::error_code;
use crate::protocol::frame::RequestFrame;
use crate::protocol::frame::{api_versions_answer, decode_request_header, encode_response};
use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeQuorumRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The APIs served here, with their versions (Kafka 4.x's ranges).
const CONTROLLER_APIS: &[(ApiKey, i16, i16)] = &[
    (
        ApiKey::ApiVersions,
        crate::protocol::frame::API_VERSIONS_VERSIONS.0,
        crate::protocol::frame::API_VERSIONS_VERSIONS.1,
    ),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
];
/// DescribeCluster's `EndpointType` of a broker listener (KIP-919).
const ENDPOINT_TYPE_BROKER: i8 = 1;
/// ... and of a controller listener.
const ENDPOINT_TYPE_CONTROLLER: i8 = 2;
/// Kafka's MISMATCHED_ENDPOINT_TYPE: a broker's endpoint type asked here.
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
/// Kafka's UNSUPPORTED_ENDPOINT_TYPE.
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;

impl Member {
    /// Answers one Kafka request frame (its size prefix stripped) with the
    /// whole response frame; `None` closes the connection.
    pub(super) async fn serve_controller_api(&self, frame: Bytes) -> Option<Bytes> {
        let request = match decode_request_header(frame) {
            Ok(request) => request,
            Err(e) => {
                log::warn!("CONTROLLER listener: a Kafka request that does not decode: {e:?}");
                return None;
            }
        };
        let served = CONTROLLER_APIS
            .iter()
            .find(|(key, _, _)| *key as i16 == request.api_key);
        let Some(&(api_key, min, max)) = served else {
            log::warn!(
                "CONTROLLER listener: api key {} is not served to Kafka clients here; closing \
                 (a controller answers ApiVersions, DescribeCluster and DescribeQuorum)",
                request.api_key
            );
            return None;
        };
        if api_key == ApiKey::ApiVersions {
            return Some(api_versions(&request));
        }
        if request.api_version < min || request.api_version > max {
            log::warn!(
                "CONTROLLER listener: {api_key:?} v{} is not served (v{min}-{max}); closing",
                request.api_version
            );
            return None;
        }
        match api_key {
            ApiKey::DescribeCluster => {
                let body = decode::<DescribeClusterRequest>(&request)?;
                encode(
                    &request,
                    api_key,
                    &self.describe_controllers(&request, &body),
                )
            }
            _ => {
                let body = decode::<DescribeQuorumRequest>(&request)?;
                let quorum = match asks_quorum(&body) {
                    true => self.quorum(QuorumOp::Describe).await,
                    false => super::quorum::QuorumAnswer::Done,
                };
                let response = describe_quorum_response(request.api_version, &body, &quorum);
                encode(&request, api_key, &response)
            }
        }
    }

    /// DescribeCluster as a controller answers it: the voters at their
    /// CONTROLLER listeners, the quorum's leader as the controller.
    fn describe_controllers(
        &self,
        frame: &RequestFrame,
        request: &DescribeClusterRequest,
    ) -> DescribeClusterResponse {
        if let Some((code, message)) = endpoint_type_error(frame.api_version, request.endpoint_type)
        {
            return DescribeClusterResponse::default()
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message)));
        }
        let controllers: Vec<DescribeClusterBroker> = self
            .node
            .voters()
            .into_iter()
            .filter_map(|id| {
                let addr = ListenerAddr::parse_host_port(&self.raft_addr_of(id)?).ok()?;
                Some(
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(i32::try_from(id).ok()?))
                        .with_host(StrBytes::from_string(addr.host))
                        .with_port(i32::from(addr.port)),
                )
            })
            .collect();
        // As Kafka: a leader the answer has no endpoint for is -1.
        let leader = self
            .node
            .leader()
            .and_then(|id| i32::try_from(id).ok())
            .filter(|id| controllers.iter().any(|c| c.broker_id.0 == *id))
            .unwrap_or(-1);
        DescribeClusterResponse::default()
            .with_endpoint_type(ENDPOINT_TYPE_CONTROLLER)
            .with_cluster_id(StrBytes::from_string(self.config.cluster_id.clone()))
            .with_controller_id(BrokerId(leader))
            .with_brokers(controllers)
    }
}

/// ApiVersions of any version, listing what is served here.
fn api_versions(request: &RequestFrame) -> Bytes {
    let table: Vec<(i16, i16, i16)> = CONTROLLER_APIS
        .iter()
        .map(|&(key, min, max)| (key as i16, min, max))
        .collect();
    api_versions_answer(request, &table)
}

/// Kafka's endpoint-type check on a controller: v0 answers INVALID_REQUEST
/// for any mismatch, v1+ says which.
fn endpoint_type_error(version: i16, endpoint_type: i8) -> Option<(i16, String)> {
    let (code, message) = match endpoint_type {
        ENDPOINT_TYPE_CONTROLLER => return None,
        ENDPOINT_TYPE_BROKER => (
            MISMATCHED_ENDPOINT_TYPE,
            "The request was sent to an endpoint of type CONTROLLER, but we wanted an endpoint \
             of type BROKER"
                .to_string(),
        ),
        other => (
            UNSUPPORTED_ENDPOINT_TYPE,
            format!("Unsupported endpoint type {other}"),
        ),
    };
    let code = if version == 0 {
        error_code::INVALID_REQUEST
    } else {
        code
    };
    Some((code, message))
}

fn decode<R: Decodable>(request: &RequestFrame) -> Option<R> {
    let mut body = request.body.clone();
    match R::decode(&mut body, request.api_version) {
        Ok(decoded) => Some(decoded),
        Err(e) => {
            log::warn!(
                "CONTROLLER listener: api key {} v{} does not decode: {e}; closing",
                request.api_key,
                request.api_version
            );
            None
        }
    }
}

fn encode<R: Encodable>(request: &RequestFrame, api_key: ApiKey, body: &R) -> Option<Bytes> {
    match encode_response(request.correlation_id, api_key, request.api_version, body) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            log::error!("CONTROLLER listener: {e}");
            None
        }
    }
}
