//! ApiVersions (key 18): the versions of every API this broker serves, built
//! from the handlers' own `VERSIONS`. Any version gets an answer (KIP-511): a
//! newer one than we know gets a v0 answer with UNSUPPORTED_VERSION and the
//! list, from which the client picks.

use super::{respond, Pending, RequestMeta, VersionRange, SUPPORTED_APIS};
use crate::config::MAIN_LISTENER;
use crate::protocol::frame::{self, RequestFrame};
use crate::protocol::piece::Piece;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };

/// Answers an ApiVersions request of any version.
pub fn handle(request: &RequestFrame) -> Pending {
    let table: Vec<(i16, i16, i16)> = SUPPORTED_APIS
        .iter()
        .map(|(key, range)| (*key as i16, range.min, range.max))
        .collect();
    if request.api_version > VERSIONS.max || request.api_version < VERSIONS.min {
        let bytes = frame::api_versions_fallback(request.correlation_id, &table);
        return Box::pin(async move { Some(vec![Piece::Mem(bytes)]) });
    }
    let response = ApiVersionsResponse::default().with_api_keys(
        table
            .iter()
            .map(|&(api_key, min, max)| {
                ApiVersion::default()
                    .with_api_key(api_key)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    );
    let meta = RequestMeta {
        api_key: ApiKey::ApiVersions,
        version: request.api_version,
        correlation_id: request.correlation_id,
        listener: MAIN_LISTENER,
    };
    let answer = respond(meta, &response);
    Box::pin(async move { answer })
}
