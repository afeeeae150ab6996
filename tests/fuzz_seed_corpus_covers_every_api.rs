//! The committed fuzz seed corpus (fuzz/corpus/request_frame, written by
//! `fuzz/examples/make_seeds.rs`) holds a frame for every API and version the
//! broker serves, so `request_frame` starts inside every decoder. A newly
//! served API or version fails this test until the seeds are regenerated.

use millrace::server::handlers::SUPPORTED_APIS;
use std::path::Path;

#[test]
fn every_served_api_version_has_a_seed_frame() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request_frame");
    let mut missing = Vec::new();
    for &(api_key, range) in SUPPORTED_APIS {
        for version in range.min..=range.max {
            let name = format!("{api_key:?}-v{version}-default");
            if !corpus.join(&name).is_file() {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no seed frame for {missing:?}: run `cargo run --example make_seeds` in fuzz/"
    );
}
