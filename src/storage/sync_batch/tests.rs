use super::*;
use std::os::fd::AsRawFd;

fn temp_file(dir: &std::path::Path, name: &str) -> std::fs::File {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("create");
    std::io::Write::write_all(&mut file, b"written, not yet synced").expect("write");
    file
}

fn work_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("millrace-sync-batch-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[test]
fn kernel_versions_parse_from_uname_releases() {
    assert_eq!(parse_kernel_version("6.18.44-fc-v1272"), Some((6, 18)));
    assert_eq!(parse_kernel_version("5.17.0"), Some((5, 17)));
    assert_eq!(parse_kernel_version("5.4-rc1"), Some((5, 4)));
    assert_eq!(parse_kernel_version("garbage"), None);
    assert!(
        kernel_version().is_some(),
        "uname gives this machine's release"
    );
}

#[test]
fn fdatasync_batches_give_each_file_its_own_result() {
    let dir = work_dir("fdatasync");
    let a = temp_file(&dir, "a");
    let b = temp_file(&dir, "b");
    // -1 is no descriptor: only its own sync fails.
    let fds = [a.as_raw_fd(), -1, b.as_raw_fd()];
    let (results, syncfs_calls) = sync_files(&fds, BatchSync::Fdatasync);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(
        results[1].as_ref().err().and_then(|e| e.raw_os_error()),
        Some(libc::EBADF)
    );
    assert_eq!(syncfs_calls, 0);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn syncfs_batches_sync_each_filesystem_once() {
    let dir = work_dir("syncfs");
    let files: Vec<_> = (0..4).map(|i| temp_file(&dir, &format!("f{i}"))).collect();
    let mut fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    // A file on another filesystem, when the machine has one at hand.
    let other_dir = std::path::Path::new("/dev/shm");
    let other = other_dir
        .is_dir()
        .then(|| {
            let dev = |p: &std::path::Path| {
                std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).expect("stat"))
            };
            (dev(other_dir) != dev(&dir)).then(|| {
                temp_file(
                    other_dir,
                    &format!("millrace-sync-batch-{}", std::process::id()),
                )
            })
        })
        .flatten();
    if let Some(file) = &other {
        fds.push(file.as_raw_fd());
    }
    fds.push(-1);
    let (results, syncfs_calls) = sync_files(&fds, BatchSync::Syncfs);
    let (last, synced) = results.split_last().expect("results");
    assert!(synced.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(
        last.as_ref().err().and_then(|e| e.raw_os_error()),
        Some(libc::EBADF)
    );
    let filesystems = 1 + other.is_some() as u64;
    assert_eq!(
        syncfs_calls, filesystems,
        "one syncfs per filesystem, not per file"
    );
    if other.is_some() {
        std::fs::remove_file(other_dir.join(format!("millrace-sync-batch-{}", std::process::id())))
            .ok();
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn syncfs_is_chosen_only_when_wanted() {
    assert_eq!(BatchSync::choose(false), BatchSync::Fdatasync);
    let expected = match kernel_version() {
        Some(version) if version >= SYNCFS_ERRORS_KERNEL_MIN => BatchSync::Syncfs,
        _ => BatchSync::Fdatasync,
    };
    assert_eq!(BatchSync::choose(true), expected);
}
