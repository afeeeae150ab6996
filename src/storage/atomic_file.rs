//! Small files replaced atomically (the topic registry, the broker identity,
//! the recovery point checkpoint, producer snapshots). Blocking `std::fs`:
//! called at start-up or on a blocking thread, never on the reactor.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Suffix of the temporary file written beside `name` before the rename:
/// one found at start-up is the leftover of an interrupted write.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Replaces `dir/name` with `contents` so that a crash leaves either the old
/// or the new file, never a torn one: a temporary file written and
/// fdatasynced, renamed over `name`, then the directory fsynced (the rename
/// itself survives a crash).
pub fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let mut file = File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_data()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}
