//! `millrace cluster local`: a development cluster of N `millrace serve`
//! processes on loopback, each from its own KRaft server.properties
//! ([`files`](super::files)), supervised until Ctrl-C or SIGTERM.
//!
//! Children get their own process group (a terminal's Ctrl-C reaches only
//! the launcher, which stops them in order) and `PR_SET_PDEATHSIG`, so even
//! a kill -9 of the launcher leaves no node running. A node that exits on
//! its own is named with its exit status and log; the others are stopped.

use super::files::{plan, write_all, LocalNode};
use crate::cli::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::client::KafkaClient;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Usage text of `millrace cluster local`.
pub const LOCAL_USAGE: &str = "  millrace cluster local --brokers N [--dir DIR] [--base-port P]
      Run N brokers on 127.0.0.1 (the first 3 also controller voters), each
      `millrace serve DIR/node-I/server.properties` with its log in
      DIR/node-I/millrace.log (default DIR /tmp/millrace-cluster); node I
      listens on P+100*(I-1) (default P 9092), its CONTROLLER listener one
      above. Prints the bootstrap servers once all answer; Ctrl-C or SIGTERM
      stops all of them.
";

/// Most nodes one local cluster runs.
pub const LOCAL_BROKERS_MAX: u32 = 16;
/// Default `--dir`.
const DEFAULT_DIR: &str = "/tmp/millrace-cluster";
/// Default `--base-port`: node 1 on Kafka's port.
const DEFAULT_BASE_PORT: u16 = 9092;
/// How often the launcher looks at its children and its signals.
const SUPERVISE_INTERVAL_MS: u64 = 100;
/// Connect and answer bound of one readiness probe (ApiVersions).
const READY_PROBE_TIMEOUT_MS: u64 = 1_000;
/// How long all nodes may take to answer before the launcher says so (it
/// keeps waiting: a node may be waiting for its quorum).
const READY_NOTICE_AFTER_MS: u64 = 30_000;
/// How long stopped nodes may take to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT_MS: u64 = 30_000;

/// Parsed `cluster local` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArgs {
    /// Nodes to run.
    pub brokers: u32,
    /// Where the files, logs and data go.
    pub dir: PathBuf,
    /// Node 1's client port.
    pub base_port: u16,
}

/// Parses `--brokers N [--dir DIR] [--base-port P]` (also `--flag=value`).
pub fn parse_local_args(args: &[String]) -> Result<LocalArgs, String> {
    let mut brokers = None;
    let mut dir = PathBuf::from(DEFAULT_DIR);
    let mut base_port = DEFAULT_BASE_PORT;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--brokers" => {
                let text = value()?;
                let n: u32 = text
                    .parse()
                    .map_err(|_| format!("--brokers: not a number: {text:?}"))?;
                if !(1..=LOCAL_BROKERS_MAX).contains(&n) {
                    return Err(format!(
                        "--brokers must be 1 to {LOCAL_BROKERS_MAX}, got {n}"
                    ));
                }
                brokers = Some(n);
            }
            "--dir" => dir = PathBuf::from(value()?),
            "--base-port" => {
                let text = value()?;
                base_port = text
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("--base-port: not a port: {text:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let brokers = brokers.ok_or("--brokers N is required")?;
    Ok(LocalArgs {
        brokers,
        dir,
        base_port,
    })
}

/// The signal that asked the launcher to stop (0: none yet).
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_signal(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_SIGNAL.store(signal, Ordering::SeqCst);
}

fn install_stop_handlers() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores into an atomic.
        let previous = unsafe {
            libc::signal(
                signal,
                remember_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
            )
        };
        if previous == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A running node and whether it answered yet.
struct Running {
    node: LocalNode,
    child: Child,
    ready: bool,
}

fn spawn(node: &LocalNode) -> io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.log_file())?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .arg(node.config_file())
        .current_dir(&node.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // Own process group: the terminal's Ctrl-C reaches the launcher only.
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Stopped with the launcher, even when it is killed with kill -9.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

fn answers(node: &LocalNode) -> bool {
    KafkaClient::connect(
        &node.bootstrap(),
        Duration::from_millis(READY_PROBE_TIMEOUT_MS),
    )
    .is_ok()
}

/// Sends SIGTERM to every running node, waits up to [`STOP_TIMEOUT_MS`],
/// then SIGKILLs what is left (and says so).
fn stop_all(running: &mut [Running]) {
    for r in running.iter_mut() {
        if matches!(r.child.try_wait(), Ok(None)) {
            // SAFETY: plain kill(2) of our own child's pid.
            unsafe { libc::kill(r.child.id() as libc::pid_t, libc::SIGTERM) };
        }
    }
    let deadline = Instant::now() + Duration::from_millis(STOP_TIMEOUT_MS);
    loop {
        let alive = running
            .iter_mut()
            .filter_map(|r| r.child.try_wait().ok())
            .filter(Option::is_none)
            .count();
        if alive == 0 {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(SUPERVISE_INTERVAL_MS));
    }
    for r in running.iter_mut() {
        if matches!(r.child.try_wait(), Ok(None)) {
            eprintln!(
                "millrace cluster local: node {} (pid {}) still running {STOP_TIMEOUT_MS} ms after SIGTERM: killed",
                r.node.node_id,
                r.child.id()
            );
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// The first node that exited on its own, with its status.
fn exited_node(running: &mut [Running]) -> Option<(usize, ExitStatus)> {
    running
        .iter_mut()
        .enumerate()
        .find_map(|(i, r)| match r.child.try_wait() {
            Ok(Some(status)) => Some((i, status)),
            _ => None,
        })
}

/// Runs `cluster local`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let parsed = match parse_local_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("millrace cluster local: {e}\n\nUsage:\n{LOCAL_USAGE}");
            return EXIT_USAGE;
        }
    };
    let nodes = match plan(parsed.brokers, &parsed.dir, parsed.base_port) {
        Ok(nodes) => nodes,
        Err(e) => {
            eprintln!("millrace cluster local: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(e) = write_all(&nodes).and_then(|()| install_stop_handlers()) {
        eprintln!("millrace cluster local: {}: {e}", parsed.dir.display());
        return EXIT_FAILURE;
    }
    let mut running = Vec::with_capacity(nodes.len());
    for node in nodes {
        match spawn(&node) {
            Ok(child) => {
                println!(
                    "node {} ({}): pid {}, {}, log {}",
                    node.node_id,
                    node.roles(),
                    child.id(),
                    node.config_file().display(),
                    node.log_file().display()
                );
                running.push(Running {
                    node,
                    child,
                    ready: false,
                });
            }
            Err(e) => {
                eprintln!(
                    "millrace cluster local: node {} did not start: {e}; stopping the others",
                    node.node_id
                );
                stop_all(&mut running);
                return EXIT_FAILURE;
            }
        }
    }
    supervise(&mut running)
}

/// Watches the nodes until a signal (stop all, exit 0) or a node's own exit
/// (name it, stop the rest, exit 1).
fn supervise(running: &mut [Running]) -> i32 {
    let started = Instant::now();
    let mut announced = false;
    let mut noticed_slow = false;
    loop {
        let signal = STOP_SIGNAL.load(Ordering::SeqCst);
        if signal != 0 {
            println!("signal {signal}: stopping {} nodes", running.len());
            stop_all(running);
            println!("all nodes stopped");
            return EXIT_OK;
        }
        if let Some((index, status)) = exited_node(running) {
            let r = &running[index];
            eprintln!(
                "millrace cluster local: node {} (pid {}) {}; its log: {}; stopping the others",
                r.node.node_id,
                r.child.id(),
                describe_exit(status),
                r.node.log_file().display()
            );
            stop_all(running);
            return EXIT_FAILURE;
        }
        if !announced {
            for r in running.iter_mut().filter(|r| !r.ready) {
                r.ready = answers(&r.node);
            }
            if running.iter().all(|r| r.ready) {
                let bootstrap: Vec<String> = running.iter().map(|r| r.node.bootstrap()).collect();
                println!("bootstrap servers: {}", bootstrap.join(","));
                println!("Ctrl-C stops all nodes");
                announced = true;
            } else if !noticed_slow
                && started.elapsed() > Duration::from_millis(READY_NOTICE_AFTER_MS)
            {
                let waiting: Vec<String> = running
                    .iter()
                    .filter(|r| !r.ready)
                    .map(|r| r.node.node_id.to_string())
                    .collect();
                println!("still waiting for nodes {} to answer", waiting.join(","));
                noticed_slow = true;
            }
        }
        std::thread::sleep(Duration::from_millis(SUPERVISE_INTERVAL_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_option_in_both_forms() {
        let parsed = parse_local_args(&args(&[
            "--brokers",
            "3",
            "--dir=/x",
            "--base-port",
            "19092",
        ]))
        .unwrap();
        assert_eq!(
            parsed,
            LocalArgs {
                brokers: 3,
                dir: PathBuf::from("/x"),
                base_port: 19_092
            }
        );
        let defaults = parse_local_args(&args(&["--brokers=1"])).unwrap();
        assert_eq!(defaults.dir, PathBuf::from(DEFAULT_DIR));
        assert_eq!(defaults.base_port, DEFAULT_BASE_PORT);
    }

    #[test]
    fn refuses_bad_usage() {
        for bad in [
            &[][..],
            &["--brokers"],
            &["--brokers", "0"],
            &["--brokers", "17"],
            &["--brokers", "x"],
            &["--brokers", "1", "--base-port", "0"],
            &["--brokers", "1", "--base-port", "70000"],
            &["--brokers", "1", "extra"],
        ] {
            assert!(parse_local_args(&args(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
