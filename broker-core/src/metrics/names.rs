//! Moleculer's metric names (`METRIC.*` of Moleculer.js), the ones this broker produces.
//!
//! [`PRODUCED`] pairs each with its Moleculer constant name and [`NOT_PRODUCED`] lists the rest
//! of Moleculer's list (V8 heap statistics, the cacher, discoverers …); a test checks both
//! against the pinned Moleculer.js package, so a name cannot drift or go missing unnoticed.

macro_rules! names {
    ($($(#[$doc:meta])* $konst:ident = $name:literal;)*) => {
        $($(#[$doc])* pub const $konst: &str = $name;)*
        /// Every name this broker produces, with its Moleculer constant name.
        pub const PRODUCED: &[(&str, &str)] = &[$((stringify!($konst), $name)),*];
    };
}

names! {
    /// Process arguments (info, label `index`).
    PROCESS_ARGUMENTS = "process.arguments";
    /// Process ID (info).
    PROCESS_PID = "process.pid";
    /// Parent process ID (info).
    PROCESS_PPID = "process.ppid";
    /// Resident set size (gauge, bytes).
    PROCESS_MEMORY_RSS = "process.memory.rss";
    /// Process uptime (gauge, seconds).
    PROCESS_UPTIME = "process.uptime";
    /// Free memory (gauge, bytes).
    OS_MEMORY_FREE = "os.memory.free";
    /// Used memory (gauge, bytes).
    OS_MEMORY_USED = "os.memory.used";
    /// Total memory (gauge, bytes).
    OS_MEMORY_TOTAL = "os.memory.total";
    /// OS uptime (gauge, seconds).
    OS_UPTIME = "os.uptime";
    /// OS type (info, `Linux`).
    OS_TYPE = "os.type";
    /// OS release (info).
    OS_RELEASE = "os.release";
    /// Host name (info).
    OS_HOSTNAME = "os.hostname";
    /// Architecture, in Node's words (info, `x64`).
    OS_ARCH = "os.arch";
    /// Platform, in Node's words (info, `linux`).
    OS_PLATFORM = "os.platform";
    /// User ID (info).
    OS_USER_UID = "os.user.uid";
    /// Group ID (info).
    OS_USER_GID = "os.user.gid";
    /// User name (info).
    OS_USER_USERNAME = "os.user.username";
    /// Home directory (info).
    OS_USER_HOMEDIR = "os.user.homedir";
    /// Current time, ms since the epoch (gauge).
    OS_DATETIME_UNIX = "os.datetime.unix";
    /// Current time, ISO 8601 (info).
    OS_DATETIME_ISO = "os.datetime.iso";
    /// Current time, as JS's `toUTCString` (info).
    OS_DATETIME_UTC = "os.datetime.utc";
    /// Time zone offset in minutes (gauge; 0, the process runs in UTC terms).
    OS_DATETIME_TZ_OFFSET = "os.datetime.tz.offset";
    /// Load average over 1 minute (gauge).
    OS_CPU_LOAD_1 = "os.cpu.load.1";
    /// Load average over 5 minutes (gauge).
    OS_CPU_LOAD_5 = "os.cpu.load.5";
    /// Load average over 15 minutes (gauge).
    OS_CPU_LOAD_15 = "os.cpu.load.15";
    /// CPU utilization in percent since the previous collection (gauge).
    OS_CPU_UTILIZATION = "os.cpu.utilization";
    /// CPU time in user mode, all cores, ms (gauge).
    OS_CPU_USER = "os.cpu.user";
    /// CPU time in kernel mode, all cores, ms (gauge).
    OS_CPU_SYSTEM = "os.cpu.system";
    /// Number of CPUs (gauge).
    OS_CPU_TOTAL = "os.cpu.total";
    /// Implementation (info, `rust`).
    MOLECULER_NODE_TYPE = "moleculer.node.type";
    /// Framework version (info).
    MOLECULER_NODE_VERSIONS_MOLECULER = "moleculer.node.versions.moleculer";
    /// Protocol version (info).
    MOLECULER_NODE_VERSIONS_PROTOCOL = "moleculer.node.versions.protocol";
    /// Namespace (info).
    MOLECULER_BROKER_NAMESPACE = "moleculer.broker.namespace";
    /// 1 once the broker started (gauge).
    MOLECULER_BROKER_STARTED = "moleculer.broker.started";
    /// Local services (gauge).
    MOLECULER_BROKER_LOCAL_SERVICES_TOTAL = "moleculer.broker.local.services.total";
    /// User middlewares (gauge).
    MOLECULER_BROKER_MIDDLEWARES_TOTAL = "moleculer.broker.middlewares.total";
    /// Known nodes (gauge).
    MOLECULER_REGISTRY_NODES_TOTAL = "moleculer.registry.nodes.total";
    /// Online nodes (gauge).
    MOLECULER_REGISTRY_NODES_ONLINE_TOTAL = "moleculer.registry.nodes.online.total";
    /// Services (gauge).
    MOLECULER_REGISTRY_SERVICES_TOTAL = "moleculer.registry.services.total";
    /// Endpoints per service (gauge, label `service`).
    MOLECULER_REGISTRY_SERVICE_ENDPOINTS_TOTAL = "moleculer.registry.service.endpoints.total";
    /// Actions (gauge).
    MOLECULER_REGISTRY_ACTIONS_TOTAL = "moleculer.registry.actions.total";
    /// Endpoints per action (gauge, label `action`).
    MOLECULER_REGISTRY_ACTION_ENDPOINTS_TOTAL = "moleculer.registry.action.endpoints.total";
    /// Events (gauge).
    MOLECULER_REGISTRY_EVENTS_TOTAL = "moleculer.registry.events.total";
    /// Endpoints per event (gauge, label `event`).
    MOLECULER_REGISTRY_EVENT_ENDPOINTS_TOTAL = "moleculer.registry.event.endpoints.total";
    /// Requests (counter).
    MOLECULER_REQUEST_TOTAL = "moleculer.request.total";
    /// Requests in flight (gauge).
    MOLECULER_REQUEST_ACTIVE = "moleculer.request.active";
    /// Failed requests (counter).
    MOLECULER_REQUEST_ERROR_TOTAL = "moleculer.request.error.total";
    /// Request times, ms (histogram).
    MOLECULER_REQUEST_TIME = "moleculer.request.time";
    /// Requests per context level (counter).
    MOLECULER_REQUEST_LEVELS = "moleculer.request.levels";
    /// Emitted events (counter).
    MOLECULER_EVENT_EMIT_TOTAL = "moleculer.event.emit.total";
    /// Broadcast events (counter).
    MOLECULER_EVENT_BROADCAST_TOTAL = "moleculer.event.broadcast.total";
    /// Local broadcast events (counter).
    MOLECULER_EVENT_BROADCASTLOCAL_TOTAL = "moleculer.event.broadcast-local.total";
    /// Received events (counter).
    MOLECULER_EVENT_RECEIVED_TOTAL = "moleculer.event.received.total";
    /// Event handlers running (gauge).
    MOLECULER_EVENT_RECEIVED_ACTIVE = "moleculer.event.received.active";
    /// Failed event handlers (counter).
    MOLECULER_EVENT_RECEIVED_ERROR_TOTAL = "moleculer.event.received.error.total";
    /// Event handler times, ms (histogram).
    MOLECULER_EVENT_RECEIVED_TIME = "moleculer.event.received.time";
    /// Published packets (counter, label `type`).
    MOLECULER_TRANSIT_PUBLISH_TOTAL = "moleculer.transit.publish.total";
    /// Received packets (counter, label `type`).
    MOLECULER_TRANSIT_RECEIVE_TOTAL = "moleculer.transit.receive.total";
    /// Remote requests waiting for their answer (gauge).
    MOLECULER_TRANSIT_REQUESTS_ACTIVE = "moleculer.transit.requests.active";
    /// Streams being sent (gauge; always 0, streams are not served yet).
    MOLECULER_TRANSIT_STREAMS_SEND_ACTIVE = "moleculer.transit.streams.send.active";
    /// 1 once transit is ready (gauge).
    MOLECULER_TRANSIT_READY = "moleculer.transit.ready";
    /// 1 while connected (gauge).
    MOLECULER_TRANSIT_CONNECTED = "moleculer.transit.connected";
    /// Responses nobody waited for (counter).
    MOLECULER_TRANSIT_ORPHAN_RESPONSE_TOTAL = "moleculer.transit.orphan.response.total";
    /// Packets sent (counter).
    MOLECULER_TRANSPORTER_PACKETS_SENT_TOTAL = "moleculer.transporter.packets.sent.total";
    /// Bytes sent (counter).
    MOLECULER_TRANSPORTER_PACKETS_SENT_BYTES = "moleculer.transporter.packets.sent.bytes";
    /// Packets received (counter).
    MOLECULER_TRANSPORTER_PACKETS_RECEIVED_TOTAL = "moleculer.transporter.packets.received.total";
    /// Bytes received (counter).
    MOLECULER_TRANSPORTER_PACKETS_RECEIVED_BYTES = "moleculer.transporter.packets.received.bytes";
    /// Open circuit breakers (gauge).
    MOLECULER_CIRCUIT_BREAKER_OPENED_ACTIVE = "moleculer.circuit-breaker.opened.active";
    /// Times a circuit breaker opened (counter).
    MOLECULER_CIRCUIT_BREAKER_OPENED_TOTAL = "moleculer.circuit-breaker.opened.total";
    /// Half-open circuit breakers (gauge).
    MOLECULER_CIRCUIT_BREAKER_HALF_OPENED_ACTIVE = "moleculer.circuit-breaker.half-opened.active";
    /// Actions running inside a bulkhead (gauge).
    MOLECULER_REQUEST_BULKHEAD_INFLIGHT = "moleculer.request.bulkhead.inflight";
    /// Actions queued at a bulkhead (gauge).
    MOLECULER_REQUEST_BULKHEAD_QUEUE_SIZE = "moleculer.request.bulkhead.queue.size";
    /// Event handlers running inside a bulkhead (gauge).
    MOLECULER_EVENT_BULKHEAD_INFLIGHT = "moleculer.event.bulkhead.inflight";
    /// Event handlers queued at a bulkhead (gauge).
    MOLECULER_EVENT_BULKHEAD_QUEUE_SIZE = "moleculer.event.bulkhead.queue.size";
}

/// Moleculer's names this broker does not produce, and why: V8 and Node internals have no
/// equivalent, and the cacher, fallback counters and discoverers are not part of this broker
/// (yet).
pub const NOT_PRODUCED: &[&str] = &[
    // V8 heap statistics and Node internals.
    "PROCESS_MEMORY_HEAP_SIZE_TOTAL",
    "PROCESS_MEMORY_HEAP_SIZE_USED",
    "PROCESS_MEMORY_EXTERNAL",
    "PROCESS_MEMORY_HEAP_SPACE_SIZE_TOTAL",
    "PROCESS_MEMORY_HEAP_SPACE_SIZE_USED",
    "PROCESS_MEMORY_HEAP_SPACE_SIZE_AVAILABLE",
    "PROCESS_MEMORY_HEAP_SPACE_SIZE_PHYSICAL",
    "PROCESS_MEMORY_HEAP_STAT_HEAP_SIZE_TOTAL",
    "PROCESS_MEMORY_HEAP_STAT_EXECUTABLE_SIZE_TOTAL",
    "PROCESS_MEMORY_HEAP_STAT_PHYSICAL_SIZE_TOTAL",
    "PROCESS_MEMORY_HEAP_STAT_AVAILABLE_SIZE_TOTAL",
    "PROCESS_MEMORY_HEAP_STAT_USED_HEAP_SIZE",
    "PROCESS_MEMORY_HEAP_STAT_HEAP_SIZE_LIMIT",
    "PROCESS_MEMORY_HEAP_STAT_MALLOCATED_MEMORY",
    "PROCESS_MEMORY_HEAP_STAT_PEAK_MALLOCATED_MEMORY",
    "PROCESS_MEMORY_HEAP_STAT_ZAP_GARBAGE",
    "PROCESS_INTERNAL_ACTIVE_HANDLES",
    "PROCESS_VERSIONS_NODE",
    "MOLECULER_NODE_VERSIONS_LANG",
    // Per-CPU details and per-interface addresses: not read (yet).
    "OS_NETWORK_ADDRESS",
    "OS_NETWORK_MAC",
    "OS_CPU_INFO_MODEL",
    "OS_CPU_INFO_SPEED",
    "OS_CPU_INFO_TIMES_USER",
    "OS_CPU_INFO_TIMES_SYS",
    // Ping times: not measured into metrics (yet).
    "MOLECULER_TRANSIT_PONG_TIME",
    "MOLECULER_TRANSIT_PONG_SYSTIME_DIFF",
    // Retry, timeout and fallback counters: not counted (yet).
    "MOLECULER_REQUEST_FALLBACK_TOTAL",
    "MOLECULER_REQUEST_RETRY_ATTEMPTS_TOTAL",
    "MOLECULER_REQUEST_TIMEOUT_TOTAL",
    // No cacher and no discoverers in this broker.
    "MOLECULER_CACHER_GET_TOTAL",
    "MOLECULER_CACHER_GET_TIME",
    "MOLECULER_CACHER_FOUND_TOTAL",
    "MOLECULER_CACHER_SET_TOTAL",
    "MOLECULER_CACHER_SET_TIME",
    "MOLECULER_CACHER_DEL_TOTAL",
    "MOLECULER_CACHER_DEL_TIME",
    "MOLECULER_CACHER_CLEAN_TOTAL",
    "MOLECULER_CACHER_CLEAN_TIME",
    "MOLECULER_CACHER_EXPIRED_TOTAL",
    "MOLECULER_DISCOVERER_REDIS_COLLECT_TOTAL",
    "MOLECULER_DISCOVERER_REDIS_COLLECT_TIME",
    "MOLECULER_DISCOVERER_ETCD_COLLECT_TOTAL",
    "MOLECULER_DISCOVERER_ETCD_COLLECT_TIME",
];

/// Moleculer's default histogram buckets, in milliseconds.
pub const DEFAULT_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// Moleculer's default histogram quantiles (`defaultQuantiles`).
pub const DEFAULT_QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];
