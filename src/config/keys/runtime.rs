//! Broker keys, part of [`super::broker_keys`]: shards, connections, memory,
//! storage tuning, faults, logging, start-up and shutdown, broker sessions
//! and the HTTP endpoint.

use super::*;

/// These keys, in application order.
pub(super) static RUNTIME_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "num.shards",
        default: Value("0"),
        kind: ConfigType::Int,
        doc: "Shards (pinned threads, one per core); 0 = every online core.",
        apply: |c, v| store(&mut c.num_shards, int(v, 0, 4096)? as usize),
    },
    BrokerKey {
        name: "shard.channel.capacity",
        default: Value("1024"),
        kind: ConfigType::Int,
        doc: "Capacity of each cross-shard message channel.",
        apply: |c, v| {
            store(
                &mut c.shard_channel_capacity,
                int(v, 1, SHARD_CHANNEL_CAPACITY_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "connection.max.inflight.requests",
        default: Value("64"),
        kind: ConfigType::Int,
        doc: "Requests one connection may have in flight before reading pauses.",
        apply: |c, v| {
            let limit = int(v, 1, INFLIGHT_REQUESTS_MAX)?;
            store(&mut c.max_inflight_requests_per_connection, limit as usize)
        },
    },
    BrokerKey {
        name: "connection.max.queued.bytes",
        default: Value("67108864"),
        kind: ConfigType::Int,
        doc: "Request and answer bytes one connection may queue before reading pauses.",
        apply: |c, v| {
            store(
                &mut c.connection_max_queued_bytes,
                int(v, 1, INT_MAX)? as usize,
            )
        },
    },
    BrokerKey {
        name: "connection.request.read.timeout.ms",
        default: Value("30000"),
        kind: ConfigType::Int,
        doc: "Close a connection that takes longer than this to send one whole request.",
        apply: |c, v| {
            store(
                &mut c.connection_request_read_timeout_ms,
                int(v, 1, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "max.connections",
        default: Value("2147483647"),
        kind: ConfigType::Int,
        doc: "Most client connections the broker holds; more are closed at accept.",
        apply: |c, v| store(&mut c.max_connections, int(v, 0, INT_MAX)? as usize),
    },
    BrokerKey {
        name: "max.connections.per.ip",
        default: Value("2147483647"),
        kind: ConfigType::Int,
        doc: "Most client connections from one IP address; more are closed at accept.",
        apply: |c, v| store(&mut c.max_connections_per_ip, int(v, 0, INT_MAX)? as usize),
    },
    BrokerKey {
        name: "max.connections.per.ip.overrides",
        default: Value(""),
        kind: ConfigType::String,
        doc: "host:count,ip:count,...: those addresses' limit instead (host names resolved at start).",
        apply: |c, v| store(&mut c.max_connections_per_ip_overrides, ip_overrides(v)?),
    },
    BrokerKey {
        name: "io.memory.bytes",
        default: Value("0"),
        kind: ConfigType::Long,
        doc: "glommio registered I/O buffer pool per shard; 0 = sized to the memlock limit.",
        apply: |c, v| store(&mut c.io_memory_bytes, int(v, 0, i64::MAX)? as usize),
    },
    BrokerKey {
        name: "log.recent.bytes.per.partition",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "Written batches a partition keeps in memory to serve reads of recent data; -1 = no \
              bound of its own: a partition may use all of its shard's room \
              (log.recent.bytes.per.shard.initial, grown by lagging reads up to \
              log.recent.bytes.per.shard.max), so a lagging consumer of a busy partition reads \
              from memory.",
        apply: |c, v| store(&mut c.recent_bytes_per_partition, bytes_or_unbounded(v)?),
    },
    BrokerKey {
        name: "log.recent.bytes.per.partition.min",
        default: Value("262144"),
        kind: ConfigType::Long,
        doc: "While its shard is over its room (log.recent.bytes.per.shard.initial, grown by lagging \
              reads up to log.recent.bytes.per.shard.max), the most a partition appended to or read \
              from lately keeps in memory, lowered so that all partitions' floors fit in half that \
              room; an idle partition then keeps none.",
        apply: |c, v| store(&mut c.recent_bytes_per_partition_min, bytes_key(v)?),
    },
    BrokerKey {
        name: "log.recent.bytes.per.shard.initial",
        default: Value("134217728"),
        kind: ConfigType::Long,
        doc: "The room for recent batches a shard starts with. It grows, up to \
              log.recent.bytes.per.shard.max, by what reads that went to the disk would have found \
              in memory (each by at most four times what it reads, plus a quarter), so memory beyond it is spent \
              on recent data only once a consumer lags behind what the room holds; -1 = the whole \
              log.recent.bytes.per.shard.max from the start.",
        apply: |c, v| store(&mut c.recent_bytes_per_shard_initial, bytes_or_unbounded(v)?),
    },
    BrokerKey {
        name: "log.recent.bytes.per.shard.max",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "Bound on the recent batches all partitions of one shard keep in memory; -1 = an \
              eighth of the memory the broker may use (MemTotal, or its cgroup's memory.max if \
              lower), divided among the shards, and at least 512 MiB.",
        apply: |c, v| store(&mut c.recent_bytes_per_shard_max, bytes_or_unset(v)?),
    },
    BrokerKey {
        name: "log.recent.memory.available.min.bytes",
        default: Value("-1"),
        kind: ConfigType::Long,
        doc: "While the memory still available (MemAvailable, or the cgroup's room under its \
              memory.max) is below this, each shard gives back recent data, its share of the \
              shortfall, at most 32 MiB every 250 ms and down to 32 MiB, and grows its room back \
              once twice this is available, as the kernel does with Kafka's page cache; -1 = a \
              sixteenth of the broker's memory, 0 = never.",
        apply: |c, v| store(&mut c.recent_memory_available_min_bytes, bytes_or_unset(v)?),
    },
    BrokerKey {
        name: "log.unwritten.bytes.per.shard.max",
        default: Value("268435456"),
        kind: ConfigType::Long,
        doc: "Appended but not yet written bytes of all partitions of one shard; past it appends wait \
              (acks=0 producers included: their connections stop being read).",
        apply: |c, v| store(&mut c.unwritten_bytes_per_shard_max, bytes_key(v)?),
    },
    BrokerKey {
        name: "log.zero.ahead.bytes",
        default: Value("0"),
        kind: ConfigType::Long,
        doc: "How far past its data an active segment's preallocated blocks are written with zeros \
              ahead of the data, off the write path (e.g. 33554432): data writes then overwrite \
              written blocks, which io_uring finishes without a worker thread (less broker CPU per \
              byte, more throughput when the CPU is the limit), at the price of writing each byte \
              twice to the device and a longer latency tail (fdatasyncs also flush the zeros). 0 = off.",
        apply: |c, v| store(&mut c.zero_ahead_bytes, bytes_key(v)? as u64),
    },
    BrokerKey {
        name: "log.flush.syncfs.enable",
        default: Value("true"),
        kind: ConfigType::Boolean,
        doc: "When several partitions of a shard need an fdatasync at once, one syncfs per \
              filesystem makes them all durable (one device flush, one helper-thread wake-up) \
              instead of one fdatasync each; false = an fdatasync per partition, still in one \
              helper job. Used on kernels 5.17 and later (syncfs reports every error there).",
        apply: |c, v| store(&mut c.syncfs_batches, boolean(v)?),
    },
    BrokerKey {
        name: "log.read.handles.per.shard",
        default: Value("0"),
        kind: ConfigType::Int,
        doc: "Buffered segment read handles (open files) one shard keeps for fetches, least recently \
              used closed first; 0 = a quarter of the open-file limit left after 1024 reserved, split \
              over the shards (8..=4096 each).",
        apply: |c, v| store(&mut c.read_handles_per_shard, int(v, 0, INT_MAX)? as usize),
    },
    BrokerKey {
        name: "log.level",
        default: Value("info"),
        kind: ConfigType::String,
        doc: "error|warn|info|debug|trace|off; the MILLRACE_LOG variable overrides it.",
        apply: |c, v| {
            crate::logging::parse_level(v)?;
            store(&mut c.log_level, v.trim().to_ascii_lowercase())
        },
    },
    BrokerKey {
        name: "storage.fault.plan",
        default: Value(""),
        kind: ConfigType::String,
        doc: "TEST ONLY: disk faults to inject (see storage::io::plan_text); refused unless \
              MILLRACE_ALLOW_FAULT_INJECTION=1.",
        apply: set_storage_fault_plan,
    },
    BrokerKey {
        name: "shutdown.timeout.ms",
        default: Value("30000"),
        kind: ConfigType::Int,
        doc: "Bound on a clean shutdown after SIGTERM/SIGINT; past it the broker exits 1 without the clean marker.",
        apply: |c, v| {
            let bound = int(v, SHUTDOWN_TIMEOUT_MS_MIN, SHUTDOWN_TIMEOUT_MS_MAX)?;
            store(&mut c.shutdown_timeout_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "initial.broker.registration.timeout.ms",
        default: Value("60000"),
        kind: ConfigType::Int,
        doc: "In a cluster: how long a starting broker may go unregistered with the active \
              controller (unreachable controllers, a duplicate node.id) before it exits 1.",
        apply: |c, v| {
            store(
                &mut c.initial_broker_registration_timeout_ms,
                int(v, 1, INT_MAX)? as u64,
            )
        },
    },
    BrokerKey {
        name: "broker.session.timeout.ms",
        default: Value("9000"),
        kind: ConfigType::Int,
        doc: "In a cluster: an unfenced broker the active controller has not heard from this long \
              is fenced (its leaderships move); one whose connections to the controller all \
              closed is fenced sooner, after broker.heartbeat.interval.ms without a reconnect.",
        apply: |c, v| {
            let bound = int(v, BROKER_SESSION_TIMEOUT_MS_MIN, INT_MAX)?;
            store(&mut c.broker_session_timeout_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "broker.heartbeat.interval.ms",
        default: Value("2000"),
        kind: ConfigType::Int,
        doc: "In a cluster: how often a broker heartbeats the active controller; at most half of \
              broker.session.timeout.ms.",
        apply: |c, v| {
            let bound = int(v, BROKER_HEARTBEAT_INTERVAL_MS_MIN, INT_MAX)?;
            store(&mut c.broker_heartbeat_interval_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "startup.timeout.ms",
        default: Value("30000"),
        kind: ConfigType::Int,
        doc: "Longest a start-up may go without progress (a shard joining, a partition opened); past it the broker exits 1 naming where each shard stands.",
        apply: |c, v| {
            let bound = int(v, STARTUP_TIMEOUT_MS_MIN, STARTUP_TIMEOUT_MS_MAX)?;
            store(&mut c.startup_timeout_ms, bound as u64)
        },
    },
    BrokerKey {
        name: "http.listener",
        default: Value("127.0.0.1:9644"),
        kind: ConfigType::String,
        doc: "host:port of the HTTP endpoint (/metrics, /health, /ready); empty = off.",
        apply: |c, v| store(&mut c.http_listener, non_empty(v).map(str::to_string)),
    },
];
