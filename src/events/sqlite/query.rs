//! Reading history: replay by filter and sequence/time range, the topic list
//! and statistics. Runs on reader connections, never on the writer, so a
//! large replay does not hold up publishes (WAL readers do not block it).

use rusqlite::{Connection, params};

use super::log::{self, EVENT_COLUMNS, event_from_row, topic_is};
use crate::events::error::EventsError;
use crate::events::filter::{Filter, Head};
use crate::events::model::{
    Event, PageLimit, REPLAY_SCAN_BUDGET, ReplayPage, ReplayQuery, SubscriptionStats,
    SubscriptionsPage, TopicStats,
};
use crate::events::topic::is_literal;

/// Reads one page.
pub fn replay(conn: &Connection, q: &ReplayQuery) -> Result<ReplayPage, EventsError> {
    let mut start = q.from_sequence.unwrap_or(1).max(1);
    if let Some(after) = q.after {
        start = start.max(after + 1);
    }
    if let Some(since) = q.since_us {
        start = start.max(log::seq_at_time(conn, since)?);
    }
    // One literal topic: walk its index instead of the whole stream.
    let single_topic = match q.filter.topics.as_slice() {
        [t] if is_literal(t) => Some(t.clone()),
        _ => None,
    };
    let sql = match single_topic {
        Some(_) => format!(
            "SELECT {EVENT_COLUMNS} FROM events_log WHERE {} AND seq >= ?1 ORDER BY seq LIMIT ?2",
            topic_is(3)
        ),
        None => format!(
            "SELECT {EVENT_COLUMNS} FROM events_log WHERE seq >= ?1 AND ?3 IS NULL ORDER BY seq LIMIT ?2"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut page = ReplayPage::default();
    let mut scanned = 0;
    let mut bytes = 0;
    let limit = PageLimit {
        events: q.limit,
        bytes: q.bytes,
    };
    let chunk = 2000;
    loop {
        // Rows are read one at a time: a chunk collected first held 2,000
        // payloads (up to 500 MB) however few of them the page took.
        let mut rows = stmt.query(params![start, chunk, single_topic])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            n += 1;
            let e = event_from_row(r, 0)?;
            let size = log::stored_size(r, 0)?;
            scanned += 1;
            start = e.sequence + 1;
            if q.until_us.is_some_and(|u| e.timestamp_us > u) {
                // Timestamps never decrease along the sequence: done.
                return Ok(page);
            }
            let head = Head {
                topic: &e.topic,
                event_type: &e.event_type,
                source: &e.source,
                priority: e.priority.as_i64(),
            };
            if q.filter.matches_head(head)
                && (!q.filter.needs_payload() || q.filter.matches_payload(&e.payload.to_string()))
            {
                let cost = PageLimit::cost(&e, size);
                if !limit.admits(page.events.len(), bytes, cost) {
                    // Not taken: the next page starts with it.
                    page.next_after = Some(e.sequence - 1);
                    return Ok(page);
                }
                page.events.push(e);
                bytes += cost;
                if page.events.len() as i64 >= q.limit {
                    page.next_after = Some(start - 1);
                    return Ok(page);
                }
            }
            if scanned >= REPLAY_SCAN_BUDGET {
                page.next_after = Some(start - 1);
                return Ok(page);
            }
        }
        if n < chunk {
            return Ok(page);
        }
    }
}

/// Every topic with its counters, by name.
pub fn topics(conn: &Connection) -> Result<Vec<TopicStats>, EventsError> {
    let mut pending: std::collections::HashMap<String, i64> = conn
        .prepare(
            "SELECT l.topic, COUNT(*) FROM events_pending p JOIN events_log l ON l.seq = p.seq
             GROUP BY l.topic",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let out = conn
        .prepare(
            "SELECT topic, stored, published, delivered, dead_lettered, trimmed, last_seq, last_ts_us
             FROM events_topics ORDER BY topic",
        )?
        .query_map([], |r| {
            Ok(TopicStats {
                topic: r.get(0)?,
                stored: r.get(1)?,
                published: r.get(2)?,
                delivered: r.get(3)?,
                pending: 0,
                dead_lettered: r.get(4)?,
                trimmed: r.get(5)?,
                last_sequence: r.get(6)?,
                last_timestamp_us: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(out
        .into_iter()
        .map(|mut t| {
            t.pending = pending.remove(&t.topic).unwrap_or(0);
            t
        })
        .collect())
}

/// The newest `n` events of one topic, oldest first.
pub fn recent(conn: &Connection, topic: &str, n: i64) -> Result<Vec<Event>, EventsError> {
    let mut v: Vec<Event> = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events_log WHERE {} ORDER BY seq DESC LIMIT ?2",
            topic_is(1)
        ))?
        .query_map(params![topic, n], |r| event_from_row(r, 0))?
        .collect::<Result<_, _>>()?;
    v.reverse();
    Ok(v)
}

/// Subscriptions `offset..offset + limit` (oldest first) with their counters.
/// `pending` counts buffered events plus matching events past the cursor
/// (see [`super::consumer::unscanned_matches`]).
pub fn subscriptions(
    conn: &Connection,
    offset: usize,
    limit: usize,
) -> Result<SubscriptionsPage, EventsError> {
    let now = crate::events::model::now_us();
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM events_subscriptions s
         JOIN events_consumers c ON c.consumer = s.consumer",
        [],
        |r| r.get(0),
    )?;
    let rows = conn
        .prepare(
            "SELECT s.id, s.name, s.group_name, c.filter, c.cursor, s.delivered, s.redelivered,
                    s.acked, c.dead_lettered,
                    (SELECT COUNT(*) FROM events_pending p
                      WHERE p.consumer = s.consumer AND p.visible_us <= ?1),
                    (SELECT COUNT(*) FROM events_pending p
                      WHERE p.consumer = s.consumer AND p.visible_us > ?1 AND p.member = s.id),
                    c.lookahead, s.consumer
             FROM events_subscriptions s JOIN events_consumers c ON c.consumer = s.consumer
             ORDER BY s.created_us, s.id LIMIT ?2 OFFSET ?3",
        )?
        .query_map(params![now, limit as i64, offset as i64], |r| {
            let filter: String = r.get(3)?;
            let filter: Filter = serde_json::from_str(&filter).unwrap_or_default();
            let cursor: i64 = r.get(4)?;
            let lookahead: i64 = r.get(11)?;
            let consumer: String = r.get(12)?;
            Ok((
                consumer,
                filter.clone(),
                cursor,
                lookahead,
                SubscriptionStats {
                    subscription_id: r.get(0)?,
                    name: r.get(1)?,
                    group: r.get(2)?,
                    topics: filter.topics,
                    next_sequence: cursor + 1,
                    delivered: r.get(5)?,
                    redelivered: r.get(6)?,
                    acked: r.get(7)?,
                    dead_lettered: r.get(8)?,
                    pending: r.get(9)?,
                    pending_at_least: false,
                    awaiting_ack: r.get(10)?,
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    // Members of a group share one consumer: its log is counted once.
    let mut counted: std::collections::HashMap<String, (i64, bool)> = Default::default();
    let mut subscriptions = Vec::with_capacity(rows.len());
    for (consumer, filter, cursor, lookahead, mut s) in rows {
        let (n, at_least) = match counted.get(&consumer) {
            Some(&c) => c,
            None => {
                let c = super::consumer::unscanned_matches(conn, &filter, cursor, lookahead)?;
                counted.insert(consumer, c);
                c
            }
        };
        s.pending += n;
        s.pending_at_least = at_least;
        subscriptions.push(s);
    }
    Ok(SubscriptionsPage {
        subscriptions,
        total: total.max(0) as usize,
    })
}
