use super::*;

/// A machine with loopback, one LAN address (192.168.1.5) and a name for
/// it, and a peer's name that resolves elsewhere.
struct FakeMachine;

impl Machine for FakeMachine {
    fn resolve(&self, addr: &ListenerAddr) -> Vec<IpAddr> {
        // Host names are looked up without case, as DNS does.
        let names: &[&str] = match addr.host.to_ascii_lowercase().as_str() {
            "localhost" => &["::1", "127.0.0.1"],
            "here.example" => &["192.168.1.5"],
            "node2.example" => &["10.0.0.2"],
            "nowhere.example" => &[],
            "debian-self.example" => &["127.0.1.1"],
            literal => return literal.parse().into_iter().collect(),
        };
        names.iter().filter_map(|ip| ip.parse().ok()).collect()
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || ip.is_unspecified() || ip == IpAddr::from([192, 168, 1, 5])
    }
}

/// Node 2 of three voters, its voters entry `entry`, its CONTROLLER
/// listener `controller`, and any `extra` lines.
fn node_2(entry: &str, controller: &str, extra: &[&str]) -> KraftConfig {
    let mut lines = vec![
        "process.roles=broker,controller".to_string(),
        "node.id=2".to_string(),
        format!("controller.quorum.voters=1@127.0.0.1:9093,2@{entry},3@127.0.0.1:9293"),
        format!("listeners=PLAINTEXT://127.0.0.1:9192,CONTROLLER://{controller}"),
        "controller.listener.names=CONTROLLER".to_string(),
    ];
    lines.extend(extra.iter().map(ToString::to_string));
    Config::load(None, &lines).unwrap().kraft
}

fn check(entry: &str, controller: &str, extra: &[&str]) -> Result<Option<String>, String> {
    check_voter_address(&node_2(entry, controller, extra), 2, &FakeMachine)
}

#[test]
fn a_voter_listening_where_its_entry_says_passes() {
    assert_eq!(check("127.0.0.1:9193", "127.0.0.1:9193", &[]), Ok(None));
    assert_eq!(
        check("here.example:9193", "192.168.1.5:9193", &[]),
        Ok(None)
    );
    assert_eq!(
        check("HERE.example:9193", "here.example:9193", &[]),
        Ok(None)
    );
}

#[test]
fn a_port_other_than_the_entrys_is_refused_naming_the_keys() {
    let error = check("127.0.0.1:9193", "127.0.0.1:9555", &[]).unwrap_err();
    assert!(
        error.starts_with(
            "controller.quorum.voters names node 2 at 127.0.0.1:9193, but this node's \
             CONTROLLER listener is 127.0.0.1:9555: a voter must listen where the voters line \
             says (is this a copy of node 2's server.properties?)"
        ),
        "{error}"
    );
    assert!(
        error.contains("node.id") && error.contains("listeners"),
        "{error}"
    );
    // Port 0 (any free port) is never the port peers dial.
    check("127.0.0.1:9193", "127.0.0.1:0", &[]).unwrap_err();
}

#[test]
fn an_entry_host_of_another_machine_is_warned_of_not_refused() {
    // The same file on another machine, or a NAT / public address: the port
    // matches, the host is not here; a name may not resolve yet at start.
    for entry in [
        "node2.example:9193",
        "10.0.0.2:9193",
        "nowhere.example:9193",
    ] {
        let doubt = check(entry, "0.0.0.0:9193", &[]).unwrap().unwrap();
        let host = entry.split(':').next().unwrap();
        assert!(
            doubt.contains(&format!(
                "and {host} is not an address of this machine (or does not resolve yet), while \
                 this node's CONTROLLER listener is 0.0.0.0:9193"
            )),
            "{doubt}"
        );
    }
}

#[test]
fn a_port_mapping_to_another_machines_address_is_warned_of() {
    // Docker or NAT: 10.0.0.2:29193 forwarded to this node's :9193.
    let doubt = check("10.0.0.2:29193", "0.0.0.0:9193", &[])
        .unwrap()
        .unwrap();
    assert!(
        doubt.contains("10.0.0.2 is not an address of this machine"),
        "{doubt}"
    );
}

#[test]
fn an_own_name_resolving_here_to_loopback_only_is_warned_of() {
    // Debian's /etc/hosts: 127.0.1.1 debian-self; peers resolve the name to
    // the LAN address the listener binds.
    let doubt = check("debian-self.example:9193", "192.168.1.5:9193", &[])
        .unwrap()
        .unwrap();
    assert!(
        doubt.contains("resolves here to loopback addresses only"),
        "{doubt}"
    );
    // Bound to loopback too: that is where the name leads here, so it passes;
    // a loopback listener that does not bind it is refused.
    assert_eq!(
        check("debian-self.example:9193", "127.0.1.1:9193", &[]),
        Ok(None)
    );
    check("debian-self.example:9193", "127.0.0.1:9193", &[]).unwrap_err();
}

#[test]
fn an_any_address_listener_covers_every_local_address_of_its_family() {
    for entry in [
        "127.0.0.1:9193",
        "localhost:9193",
        "here.example:9193",
        "192.168.1.5:9193",
    ] {
        assert_eq!(check(entry, "0.0.0.0:9193", &[]), Ok(None));
        assert_eq!(check(entry, ":9193", &[]), Ok(None));
        assert_eq!(check(entry, "[::]:9193", &[]), Ok(None));
    }
    assert_eq!(check("[::1]:9193", "[::]:9193", &[]), Ok(None));
    // An IPv4 any-address listener takes no IPv6 connection.
    let error = check("[::1]:9193", "0.0.0.0:9193", &[]).unwrap_err();
    assert!(
        error.contains("CONTROLLER listener 0.0.0.0:9193 does not listen on [::1]:9193"),
        "{error}"
    );
    assert!(error.contains("listen on [::] for IPv6"), "{error}");
    let error = check("127.0.0.1:9193", "[::1]:9193", &[]).unwrap_err();
    assert!(!error.contains("IPv4 connections only"), "{error}");
}

#[test]
fn localhost_and_its_addresses_match_each_other() {
    assert_eq!(check("localhost:9193", "127.0.0.1:9193", &[]), Ok(None));
    assert_eq!(check("127.0.0.1:9193", "localhost:9193", &[]), Ok(None));
    assert_eq!(check("[::1]:9193", "localhost:9193", &[]), Ok(None));
    assert_eq!(check("[::1]:9193", "[::1]:9193", &[]), Ok(None));
    // A local address the listener does not bind: peers dialing it are refused.
    let error = check("here.example:9193", "127.0.0.1:9193", &[]).unwrap_err();
    assert!(
        error.contains("CONTROLLER listener 127.0.0.1:9193 does not listen on here.example:9193"),
        "{error}"
    );
}

#[test]
fn an_advertised_controller_listener_at_the_entry_passes() {
    // A proxy (or NAT) at the entry's address forwards to the listener.
    let proxied = ["advertised.listeners=PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:19193"];
    assert_eq!(
        check("127.0.0.1:19193", "127.0.0.1:9193", &proxied),
        Ok(None)
    );
    let advertised =
        ["advertised.listeners=PLAINTEXT://127.0.0.1:9192,CONTROLLER://node2.example:9193"];
    assert_eq!(
        check("node2.example:9193", "0.0.0.0:9093", &advertised),
        Ok(None)
    );
    let error = check("127.0.0.1:29193", "127.0.0.1:9193", &proxied).unwrap_err();
    assert!(
        error.contains(
            "CONTROLLER listener is 127.0.0.1:9193 (advertised as 127.0.0.1:19193): a voter"
        ),
        "{error}"
    );
}

#[test]
fn nodes_that_are_not_voters_pass() {
    // A broker-only node has no entry; a controller joining through the
    // bootstrap servers (a learner until added) has none either.
    let broker = Config::load(
        None,
        &[
            "process.roles=broker".to_string(),
            "node.id=4".to_string(),
            "controller.quorum.voters=1@127.0.0.1:9093".to_string(),
            "listeners=PLAINTEXT://127.0.0.1:9492".to_string(),
            "controller.listener.names=CONTROLLER".to_string(),
        ],
    )
    .unwrap();
    assert_eq!(
        check_voter_address(&broker.kraft, 4, &FakeMachine),
        Ok(None)
    );
    let joining = Config::load(
        None,
        &[
            "process.roles=broker,controller".to_string(),
            "node.id=4".to_string(),
            "controller.quorum.bootstrap.servers=127.0.0.1:9093".to_string(),
            "listeners=PLAINTEXT://127.0.0.1:9492,CONTROLLER://127.0.0.1:9493".to_string(),
            "controller.listener.names=CONTROLLER".to_string(),
        ],
    )
    .unwrap();
    assert_eq!(
        check_voter_address(&joining.kraft, 4, &FakeMachine),
        Ok(None)
    );
}

#[test]
fn this_machine_knows_loopback_and_not_a_documentation_address() {
    assert!(ThisMachine.is_local(IpAddr::from([127, 0, 0, 1])));
    // TEST-NET-1 (RFC 5737) is no machine's address.
    assert!(!ThisMachine.is_local(IpAddr::from([192, 0, 2, 1])));
    let localhost = ListenerAddr::parse_host_port("localhost:9193").unwrap();
    assert!(ThisMachine
        .resolve(&localhost)
        .iter()
        .any(|ip| ThisMachine.is_local(*ip)));
    let entry = "127.0.0.1:9193";
    let kraft = node_2(entry, "0.0.0.0:9193", &[]);
    assert_eq!(check_voter_address(&kraft, 2, &ThisMachine), Ok(None));
    let elsewhere = node_2("192.0.2.1:9193", "0.0.0.0:9193", &[]);
    assert!(check_voter_address(&elsewhere, 2, &ThisMachine)
        .unwrap()
        .is_some());
}
