//! The events subsystem's tables (component `events` in the store's
//! migrations).
//!
//! `events_log` is the one stream. `seq` is assigned by the writer inside the
//! writing transaction from the high-water mark in `events_stream`, so it is
//! gap-free as assigned (a rolled back publish rolls its numbers back too)
//! and never reused, even after retention empties the log. The log has one
//! secondary index only, `(topic, seq)` for retention and replay: acks find
//! events through `events_pending`, which carries the event id, because an
//! index on every event's id costs about a quarter of the publish throughput. `events_topics` keeps per-topic counters so
//! retention and `events://topics` never COUNT the log. A consumer is the
//! cursor plus pending set that a subscription, or every member of a group,
//! reads from; `events_pending` holds the matched events each consumer has not
//! acked yet.

use crate::store::migrations::Migration;

/// Migrations of component `events`.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events_log_consumers",
    sql: "
CREATE TABLE events_log (
    seq            INTEGER PRIMARY KEY,
    event_id       BLOB NOT NULL,
    topic          TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    source         TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    payload        TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    ts_us          INTEGER NOT NULL
) STRICT;
CREATE INDEX events_log_topic_seq ON events_log(topic, seq);

CREATE TABLE events_stream (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
) STRICT;
INSERT INTO events_stream (id, last_seq) VALUES (1, 0);

CREATE TABLE events_topics (
    topic         TEXT PRIMARY KEY,
    stored        INTEGER NOT NULL DEFAULT 0,
    published     INTEGER NOT NULL DEFAULT 0,
    delivered     INTEGER NOT NULL DEFAULT 0,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    trimmed       INTEGER NOT NULL DEFAULT 0,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    last_ts_us    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE events_consumers (
    consumer       TEXT PRIMARY KEY,
    filter         TEXT NOT NULL,
    cursor         INTEGER NOT NULL,
    ack_wait_ms    INTEGER NOT NULL,
    max_deliveries INTEGER NOT NULL,
    dead_lettered  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE events_subscriptions (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    consumer    TEXT NOT NULL REFERENCES events_consumers(consumer),
    group_name  TEXT,
    created_us  INTEGER NOT NULL,
    delivered   INTEGER NOT NULL DEFAULT 0,
    redelivered INTEGER NOT NULL DEFAULT 0,
    acked       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX events_subscriptions_consumer ON events_subscriptions(consumer);

CREATE TABLE events_pending (
    consumer   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    priority   INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    visible_us INTEGER NOT NULL DEFAULT 0,
    member     TEXT,
    event_id   BLOB NOT NULL,
    PRIMARY KEY (consumer, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX events_pending_order ON events_pending(consumer, priority DESC, seq);
CREATE INDEX events_pending_visible ON events_pending(consumer, visible_us);
CREATE INDEX events_pending_event ON events_pending(consumer, event_id);
",
}];
