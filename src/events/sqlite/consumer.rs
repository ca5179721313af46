//! Durable subscriptions and consumer groups: where each one is in the
//! stream, which matched events it has not acked, delivery, ack, redelivery
//! and dead-lettering.
//!
//! The model is pull-based, like Kafka and JetStream: publishing only appends
//! to the log, and a consumer scans the log from its cursor when polled,
//! copying the events its filter matches into `events_pending` (up to
//! [`BUFFER_TARGET`] at a time). Priority order is applied among the buffered
//! events. While the buffer is full, a second cursor (`lookahead`) scans on
//! for `high` and `critical` events only and buffers them too, so a critical
//! event is not stuck behind a backlog of normal ones; the main scan skips
//! what the lookahead took. A group is one consumer shared by its member subscriptions, so the
//! row-level claim inside the single write transaction is what makes each
//! event go to exactly one member. A delivered event becomes invisible for
//! `ack_wait`; when that passes unacked it is delivered again, and once it has
//! been delivered `max_deliveries` times it is moved to `dlq.<topic>` instead.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::log::{self, EVENT_COLUMNS, event_from_row, stored_size};
use crate::events::error::EventsError;
use crate::events::filter::{Filter, Head};
use crate::events::model::{Event, PageLimit, Priority, now_us};
use crate::events::retention::Retention;
use crate::events::subscription::{
    Acked, Delivery, Polled, SCAN_LIMIT, Skipped, Start, Subscribed, SubscriptionSpec,
    dead_letter_copy,
};

/// Matched events a consumer buffers before it stops scanning the log;
/// priority order applies within this window (like JetStream's
/// `max_ack_pending`).
pub const BUFFER_TARGET: i64 = 10_000;
/// Events of this priority or higher are buffered ahead of a full buffer.
const LOOKAHEAD_PRIORITY: i64 = Priority::High as i64;
/// Most events buffered per consumer, counting those taken ahead.
const BUFFER_MAX: i64 = 2 * BUFFER_TARGET;

fn consumer_key(sub_id: &str, group: Option<&str>) -> String {
    match group {
        Some(g) => format!("group:{g}"),
        None => sub_id.to_string(),
    }
}

/// Creates a subscription (and its consumer, or joins its group's).
pub fn subscribe(conn: &Connection, spec: &SubscriptionSpec) -> Result<Subscribed, EventsError> {
    let id = format!("sub_{}", Uuid::now_v7().simple());
    let consumer = consumer_key(&id, spec.group.as_deref());
    let filter_json =
        serde_json::to_string(&spec.filter).map_err(|e| EventsError::Store(e.to_string()))?;
    let existing: Option<(String, i64)> = conn
        .query_row(
            "SELECT filter, cursor FROM events_consumers WHERE consumer = ?1",
            [&consumer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (next_sequence, joined) = match existing {
        Some((stored, cursor)) => {
            let stored: Filter = serde_json::from_str(&stored).unwrap_or_default();
            if stored != spec.filter {
                return Err(EventsError::invalid(
                    "group",
                    format!(
                        "group `{}` already exists with a different filter; members of a group \
                         share one filter: subscribe with the same topics, event_types, sources, \
                         min_priority and payload_match, or pick another group name",
                        spec.group.as_deref().unwrap_or_default()
                    ),
                ));
            }
            (cursor + 1, true)
        }
        None => {
            let cursor = match spec.start {
                Start::Latest => log::last_seq(conn)?,
                // The first stored event: what retention removed before the
                // subscription existed was never its to miss.
                Start::Earliest => log::first_seq(conn)?.map_or(log::last_seq(conn)?, |f| f - 1),
                Start::Sequence(n) => n - 1,
                Start::Time(t) => log::seq_at_time(conn, t)? - 1,
            };
            conn.execute(
                "INSERT INTO events_consumers (consumer, filter, cursor, ack_wait_ms, max_deliveries)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![consumer, filter_json, cursor, spec.ack_wait_ms, spec.max_deliveries],
            )?;
            (cursor + 1, false)
        }
    };
    conn.execute(
        "INSERT INTO events_subscriptions (id, name, consumer, group_name, created_us)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, spec.name, consumer, spec.group, now_us()],
    )?;
    Ok(Subscribed {
        subscription_id: id,
        next_sequence,
        joined_existing_group: joined,
    })
}

/// A consumer as loaded for a poll.
#[derive(Debug, Clone)]
struct Consumer {
    key: String,
    filter: Filter,
    cursor: i64,
    /// Last sequence the lookahead scanned (high and critical events up to
    /// it are buffered already, whatever the cursor).
    lookahead: i64,
    ack_wait_ms: i64,
    max_deliveries: i64,
}

fn load(conn: &Connection, sub_id: &str) -> Result<Consumer, EventsError> {
    conn.prepare_cached(
        "SELECT c.consumer, c.filter, c.cursor, c.ack_wait_ms, c.max_deliveries, c.lookahead
         FROM events_subscriptions s JOIN events_consumers c ON c.consumer = s.consumer
         WHERE s.id = ?1",
    )?
    .query_row([sub_id], |r| {
        let filter: String = r.get(1)?;
        Ok(Consumer {
            key: r.get(0)?,
            filter: serde_json::from_str(&filter).unwrap_or_default(),
            cursor: r.get(2)?,
            ack_wait_ms: r.get(3)?,
            max_deliveries: r.get(4)?,
            lookahead: r.get(5)?,
        })
    })
    .optional()?
    .ok_or_else(|| EventsError::UnknownSubscription(sub_id.to_string()))
}

/// The log columns a scan reads, ending with the payload when the filter
/// looks at it (else an empty column): the row [`buffer_if_wanted`] takes.
fn scan_columns(want_payload: bool) -> &'static str {
    if want_payload {
        "seq, topic, event_type, source, priority, event_id, payload"
    } else {
        "seq, topic, event_type, source, priority, event_id, ''"
    }
}

/// Buffers a log row read with [`scan_columns`] for consumer `c` when its
/// filter wants it; whether it did.
fn buffer_if_wanted(
    c: &Consumer,
    r: &rusqlite::Row<'_>,
    want_payload: bool,
    insert: &mut rusqlite::Statement<'_>,
) -> Result<bool, EventsError> {
    let priority: i64 = r.get(4)?;
    let head = Head {
        topic: r.get_ref(1)?.as_str().unwrap_or_default(),
        event_type: r.get_ref(2)?.as_str().unwrap_or_default(),
        source: r.get_ref(3)?.as_str().unwrap_or_default(),
        priority,
    };
    if !c.filter.matches_head(head)
        || (want_payload
            && !c
                .filter
                .matches_payload(r.get_ref(6)?.as_str().unwrap_or_default()))
    {
        return Ok(false);
    }
    let seq: i64 = r.get(0)?;
    let event_id = r.get_ref(5)?.as_bytes().unwrap_or_default();
    insert.execute(params![c.key, seq, priority, event_id])?;
    Ok(true)
}

/// Adds a scanned event to a consumer's buffer (kept if already there).
const BUFFER_INSERT: &str =
    "INSERT OR IGNORE INTO events_pending (consumer, seq, priority, event_id)
     VALUES (?1, ?2, ?3, ?4)";

/// Scans the log past the consumer's cursor and buffers matching events;
/// the sequences it found missing (sequences are dense, so a hole is what
/// retention removed before the scan reached it).
fn fill(conn: &Connection, c: &mut Consumer) -> Result<Option<Skipped>, EventsError> {
    let buffered: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM events_pending WHERE consumer = ?1")?
        .query_row([&c.key], |r| r.get(0))?;
    if buffered >= BUFFER_TARGET {
        look_ahead(conn, c, buffered)?;
        return Ok(None);
    }
    let mut holes = Vec::new();
    let want_payload = c.filter.needs_payload();
    let mut select = conn.prepare_cached(&format!(
        "SELECT {} FROM events_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        scan_columns(want_payload)
    ))?;
    let mut insert = conn.prepare_cached(BUFFER_INSERT)?;
    let mut rows = select.query(params![c.cursor, SCAN_LIMIT])?;
    let mut cursor = c.cursor;
    let mut added = 0;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let priority: i64 = r.get(4)?;
        if seq > cursor + 1 {
            holes.push((cursor + 1, seq - 1));
        }
        cursor = seq;
        if priority >= LOOKAHEAD_PRIORITY && seq <= c.lookahead {
            // Buffered ahead already (and maybe delivered and acked since).
            continue;
        }
        if buffer_if_wanted(c, r, want_payload, &mut insert)? {
            added += 1;
            if buffered + added >= BUFFER_TARGET {
                break;
            }
        }
    }
    if cursor != c.cursor {
        conn.prepare_cached("UPDATE events_consumers SET cursor = ?2 WHERE consumer = ?1")?
            .execute(params![c.key, cursor])?;
        c.cursor = cursor;
    }
    if buffered + added >= BUFFER_TARGET {
        look_ahead(conn, c, buffered + added)?;
    }
    drop(rows);
    let mut skipped = None;
    if !holes.is_empty() {
        // A hole lost this consumer something only below where retention
        // cut a topic its filter wants; above, only other topics' events.
        let floor = trim_floor(conn, &c.filter)?;
        for (first, last) in holes {
            Skipped::add(&mut skipped, first, last.min(floor - 1));
        }
    }
    Ok(skipped)
}

/// Most log rows [`unscanned_matches`] reads per consumer; past it the count
/// is a lower bound.
pub const PENDING_SCAN_LIMIT: i64 = 100_000;

/// Events past a consumer's cursor (not buffered yet) that its filter
/// matches: the count, and whether it is only a lower bound (more than
/// [`PENDING_SCAN_LIMIT`] rows were left to read).
pub fn unscanned_matches(
    conn: &Connection,
    filter: &Filter,
    cursor: i64,
    lookahead: i64,
) -> Result<(i64, bool), EventsError> {
    let want_payload = filter.needs_payload();
    let mut select = conn.prepare_cached(&format!(
        "SELECT {} FROM events_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        scan_columns(want_payload)
    ))?;
    let mut rows = select.query(params![cursor, PENDING_SCAN_LIMIT + 1])?;
    let (mut read, mut matched) = (0, 0);
    while let Some(r) = rows.next()? {
        read += 1;
        if read > PENDING_SCAN_LIMIT {
            return Ok((matched, true));
        }
        let seq: i64 = r.get(0)?;
        let priority: i64 = r.get(4)?;
        if priority >= LOOKAHEAD_PRIORITY && seq <= lookahead {
            continue; // buffered ahead already: counted with the buffer
        }
        let head = Head {
            topic: r.get_ref(1)?.as_str().unwrap_or_default(),
            event_type: r.get_ref(2)?.as_str().unwrap_or_default(),
            source: r.get_ref(3)?.as_str().unwrap_or_default(),
            priority,
        };
        if filter.matches_head(head)
            && (!want_payload || filter.matches_payload(r.get_ref(6)?.as_str().unwrap_or_default()))
        {
            matched += 1;
        }
    }
    Ok((matched, false))
}

/// The highest first stored sequence among the topics `filter` wants that
/// retention has trimmed (0 when none): retention removes a topic's oldest
/// events, so what it removed of them lies below this.
fn trim_floor(conn: &Connection, filter: &Filter) -> Result<i64, EventsError> {
    let mut topics = conn
        .prepare_cached("SELECT topic, topic_id, last_seq FROM events_topics WHERE trimmed > 0")?;
    let mut first = conn.prepare_cached("SELECT MIN(seq) FROM events_log WHERE topic_id = ?1")?;
    let mut floor = 0;
    let mut rows = topics.query([])?;
    while let Some(r) = rows.next()? {
        let topic: String = r.get(0)?;
        if !filter.wants_topic(&topic) {
            continue;
        }
        let (id, last): (Option<i64>, i64) = (r.get(1)?, r.get(2)?);
        let stored: Option<i64> = first.query_row([id], |r| r.get(0))?;
        floor = floor.max(stored.unwrap_or(last + 1));
    }
    Ok(floor)
}

/// With the buffer full, scans on from the lookahead (at most
/// [`SCAN_LIMIT`] sequences per poll) and buffers the matching `high` and
/// `critical` events, up to [`BUFFER_MAX`] buffered in all.
fn look_ahead(conn: &Connection, c: &mut Consumer, buffered: i64) -> Result<(), EventsError> {
    if buffered >= BUFFER_MAX {
        return Ok(());
    }
    let from = c.lookahead.max(c.cursor);
    let until = from.saturating_add(SCAN_LIMIT).min(log::last_seq(conn)?);
    if until <= from {
        return Ok(());
    }
    let want_payload = c.filter.needs_payload();
    let mut select = conn.prepare_cached(&format!(
        "SELECT {} FROM events_log WHERE seq > ?1 AND seq <= ?2 AND priority >= ?3 ORDER BY seq",
        scan_columns(want_payload)
    ))?;
    let mut insert = conn.prepare_cached(BUFFER_INSERT)?;
    let mut rows = select.query(params![from, until, LOOKAHEAD_PRIORITY])?;
    let mut reached = until;
    let mut added = 0;
    while let Some(r) = rows.next()? {
        if buffer_if_wanted(c, r, want_payload, &mut insert)? {
            added += 1;
            if buffered + added >= BUFFER_MAX {
                reached = r.get(0)?;
                break;
            }
        }
    }
    conn.prepare_cached("UPDATE events_consumers SET lookahead = ?2 WHERE consumer = ?1")?
        .execute(params![c.key, reached])?;
    c.lookahead = reached;
    Ok(())
}

/// Delivers up to `max` events to subscription `sub_id`, redelivering
/// expired ones and dead-lettering those out of deliveries.
pub fn poll(
    conn: &Connection,
    sub_id: &str,
    limit: PageLimit,
    ts_us: i64,
    retention: &Retention,
) -> Result<Polled, EventsError> {
    let mut c = load(conn, sub_id)?;
    let mut skipped = fill(conn, &mut c)?;
    let now = now_us();
    let mut out = Polled::default();
    // Expired deliveries out of attempts go to the dead-letter topic first
    // (an index range on visible_us), then the claim reads the priority
    // index and stops after `limit.events` rows. INDEXED BY pins the plans: without
    // statistics SQLite picks the primary key and sorts the whole buffer.
    let dead: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, deliveries FROM events_pending
             WHERE consumer = ?1 AND visible_us BETWEEN 1 AND ?2 AND deliveries >= ?3",
        )?
        .query_map(params![c.key, now, c.max_deliveries], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let claimed: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, deliveries FROM events_pending INDEXED BY events_pending_order
             WHERE consumer = ?1 AND visible_us <= ?2 AND deliveries < ?3
             ORDER BY priority DESC, seq LIMIT ?4",
        )?
        .query_map(params![c.key, now, c.max_deliveries, limit.events], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let visible = now + c.ack_wait_ms * 1000;
    let mut topic_delivered: HashMap<String, i64> = HashMap::new();
    {
        let mut get = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events_log WHERE seq = ?1"
        ))?;
        let mut mark = conn.prepare_cached(
            "UPDATE events_pending SET deliveries = deliveries + 1, visible_us = ?3, member = ?4
             WHERE consumer = ?1 AND seq = ?2",
        )?;
        let mut drop =
            conn.prepare_cached("DELETE FROM events_pending WHERE consumer = ?1 AND seq = ?2")?;
        let mut redelivered = 0;
        let mut bytes = 0;
        for (seq, before) in claimed {
            let row = get
                .query_row([seq], |r| Ok((event_from_row(r, 0)?, stored_size(r, 0)?)))
                .optional()?;
            let Some((event, size)) = row else {
                // Trimmed by retention before it was acked.
                drop.execute(params![c.key, seq])?;
                Skipped::add(&mut skipped, seq, seq);
                continue;
            };
            let cost = PageLimit::cost(&event, size);
            if !limit.admits(out.events.len(), bytes, cost) {
                // The rest stays pending, visible to the next poll.
                break;
            }
            bytes += cost;
            mark.execute(params![c.key, seq, visible, sub_id])?;
            if before > 0 {
                redelivered += 1;
            }
            *topic_delivered.entry(event.topic.clone()).or_default() += 1;
            out.events.push(Delivery {
                event,
                delivery_count: before + 1,
            });
        }
        for (seq, deliveries) in dead {
            let Some(event) = get.query_row([seq], |r| event_from_row(r, 0)).optional()? else {
                drop.execute(params![c.key, seq])?;
                continue;
            };
            dead_letter(conn, &event, sub_id, deliveries, ts_us, retention)?;
            drop.execute(params![c.key, seq])?;
            out.dead_lettered += 1;
        }
        // An empty poll must write nothing: a commit that changes no page
        // leaves `data_version` alone, so it does not wake other long-polls
        // (see watch.rs) into a busy loop.
        if !out.events.is_empty() {
            conn.prepare_cached(
                "UPDATE events_subscriptions
                 SET delivered = delivered + ?2, redelivered = redelivered + ?3 WHERE id = ?1",
            )?
            .execute(params![sub_id, out.events.len() as i64, redelivered])?;
        }
        if out.dead_lettered > 0 {
            conn.prepare_cached(
                "UPDATE events_consumers SET dead_lettered = dead_lettered + ?2 WHERE consumer = ?1",
            )?
            .execute(params![c.key, out.dead_lettered])?;
        }
        let mut per_topic = conn.prepare_cached(
            "UPDATE events_topics SET delivered = delivered + ?2 WHERE topic = ?1",
        )?;
        for (topic, n) in topic_delivered {
            per_topic.execute(params![topic, n])?;
        }
    }
    let (waiting, in_flight, next): (i64, i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(visible_us <= ?2), 0), COALESCE(SUM(visible_us > ?2), 0),
                    MIN(CASE WHEN visible_us > ?2 THEN visible_us END)
             FROM events_pending WHERE consumer = ?1",
        )?
        .query_row(params![c.key, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    out.pending = waiting;
    out.awaiting_ack = in_flight;
    out.next_redelivery_us = next;
    out.skipped = skipped;
    Ok(out)
}

/// Publishes a copy of `event` on `dlq.<topic>` with the reason in its
/// metadata (`dead_letter`).
fn dead_letter(
    conn: &Connection,
    event: &Event,
    sub_id: &str,
    deliveries: i64,
    ts_us: i64,
    retention: &Retention,
) -> Result<(), EventsError> {
    let copy = dead_letter_copy(event, sub_id, deliveries);
    log::append(conn, vec![copy], ts_us, retention)?;
    conn.prepare_cached(
        "UPDATE events_topics SET dead_lettered = dead_lettered + 1 WHERE topic = ?1",
    )?
    .execute([&event.topic])?;
    Ok(())
}

/// Acknowledges events delivered to `sub_id`; `ids` must be valid UUIDs
/// (checked by the caller).
pub fn ack(conn: &Connection, sub_id: &str, ids: &[Uuid]) -> Result<Acked, EventsError> {
    let c = load(conn, sub_id)?;
    let mut out = Acked::default();
    let mut del = conn.prepare_cached(
        "DELETE FROM events_pending INDEXED BY events_pending_event
         WHERE consumer = ?1 AND event_id = ?2 AND deliveries > 0 AND member = ?3",
    )?;
    for id in ids {
        let n = del.execute(params![c.key, id.as_bytes().as_slice(), sub_id])?;
        if n > 0 {
            out.acked += 1;
        } else {
            out.not_pending.push(id.to_string());
        }
    }
    if out.acked > 0 {
        conn.prepare_cached("UPDATE events_subscriptions SET acked = acked + ?2 WHERE id = ?1")?
            .execute(params![sub_id, out.acked])?;
    }
    Ok(out)
}

/// Removes a subscription. Its unacked deliveries become deliverable to the
/// rest of its group at once; the last member takes the consumer with it.
pub fn unsubscribe(conn: &Connection, sub_id: &str) -> Result<(), EventsError> {
    let c = load(conn, sub_id)?;
    conn.execute("DELETE FROM events_subscriptions WHERE id = ?1", [sub_id])?;
    let members: i64 = conn.query_row(
        "SELECT COUNT(*) FROM events_subscriptions WHERE consumer = ?1",
        [&c.key],
        |r| r.get(0),
    )?;
    if members == 0 {
        conn.execute("DELETE FROM events_pending WHERE consumer = ?1", [&c.key])?;
        conn.execute("DELETE FROM events_consumers WHERE consumer = ?1", [&c.key])?;
    } else {
        conn.execute(
            "UPDATE events_pending SET visible_us = 0, member = NULL
             WHERE consumer = ?1 AND member = ?2",
            params![c.key, sub_id],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::filter::FilterInput;
    use crate::events::model::EventInput;

    fn setup() -> (tempfile::TempDir, Connection, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(tmp.path(), &[("events", crate::events::MIGRATIONS)])
            .unwrap();
        let a = store.connect().unwrap();
        let b = store.connect().unwrap();
        (tmp, a, b)
    }

    fn spec(group: Option<&str>) -> SubscriptionSpec {
        SubscriptionSpec {
            name: "t".into(),
            filter: FilterInput::default().validate().unwrap(),
            group: group.map(str::to_string),
            start: Start::Earliest,
            ack_wait_ms: 30_000,
            max_deliveries: 5,
        }
    }

    fn publish(c: &Connection, priority: &str) {
        let e = EventInput {
            topic: "t".into(),
            event_type: "e".into(),
            priority: Some(priority.into()),
            ..Default::default()
        }
        .validate("")
        .unwrap();
        log::append(c, vec![e], now_us(), &Retention::default()).unwrap();
    }

    fn data_version(c: &Connection) -> i64 {
        c.query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_empty_poll_writes_nothing_that_would_wake_other_processes() {
        let (_t, c, watcher) = setup();
        let sub = subscribe(&c, &spec(None)).unwrap().subscription_id;
        let before = data_version(&watcher);
        let p = poll(&c, &sub, 10.into(), now_us(), &Retention::default()).unwrap();
        assert!(p.events.is_empty());
        assert_eq!(data_version(&watcher), before);
        publish(&c, "normal");
        assert_ne!(data_version(&watcher), before);
    }

    #[test]
    fn group_members_never_receive_the_same_event() {
        let (_t, c, _) = setup();
        let a = subscribe(&c, &spec(Some("g"))).unwrap().subscription_id;
        let b = subscribe(&c, &spec(Some("g"))).unwrap();
        assert!(b.joined_existing_group);
        for _ in 0..10 {
            publish(&c, "normal");
        }
        let r = Retention::default();
        let pa = poll(&c, &a, 4.into(), now_us(), &r).unwrap();
        let pb = poll(&c, &b.subscription_id, 100.into(), now_us(), &r).unwrap();
        let sa: Vec<i64> = pa.events.iter().map(|d| d.event.sequence).collect();
        let sb: Vec<i64> = pb.events.iter().map(|d| d.event.sequence).collect();
        assert_eq!(sa, vec![1, 2, 3, 4]);
        assert_eq!(sb, vec![5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn unknown_subscription_is_its_own_error() {
        let (_t, c, _) = setup();
        let e = poll(&c, "sub_x", 1.into(), now_us(), &Retention::default()).unwrap_err();
        assert_eq!(e, EventsError::UnknownSubscription("sub_x".into()));
    }
}
