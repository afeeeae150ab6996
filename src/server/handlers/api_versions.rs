//! ApiVersions (key 18): the versions of every API this broker serves, built
//! from the handlers' own `VERSIONS`. Any version gets an answer (KIP-511): a
//! newer one than we know gets a v0 answer with UNSUPPORTED_VERSION and the
//! list, from which the client picks.

use super::{Pending, VersionRange, SUPPORTED_APIS};
use crate::protocol::frame::{self, RequestFrame};
use crate::protocol::piece::Piece;

/// Versions served.
pub const VERSIONS: VersionRange = VersionRange {
    min: frame::API_VERSIONS_VERSIONS.0,
    max: frame::API_VERSIONS_VERSIONS.1,
};

/// Answers an ApiVersions request of any version.
pub fn handle(request: &RequestFrame) -> Pending {
    let table: Vec<(i16, i16, i16)> = SUPPORTED_APIS
        .iter()
        .map(|(key, range)| (*key as i16, range.min, range.max))
        .collect();
    let bytes = frame::api_versions_answer(request, &table);
    Box::pin(async move { Some(vec![Piece::Mem(bytes)]) })
}
