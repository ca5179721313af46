//! The event log: appending (with per-topic counters and count retention),
//! reading events back, finding the first event at a time, and age retention.
//!
//! Every function takes a connection or transaction the caller owns: the
//! writer thread batches many commands into one transaction (group commit),
//! and readers use their own connections.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::events::error::EventsError;
use crate::events::model::{Appended, Event, NewEvent, Priority, now_us};
use crate::events::retention::Retention;

/// Columns selected by [`event_from_row`], in its order.
pub const EVENT_COLUMNS: &str =
    "seq, event_id, topic, event_type, priority, source, correlation_id, payload, metadata, ts_us";

/// Builds an [`Event`] from a row selected with [`EVENT_COLUMNS`] (possibly
/// prefixed by a table alias) starting at column `at`.
pub fn event_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<Event> {
    let id: Vec<u8> = row.get(at + 1)?;
    let payload: String = row.get(at + 7)?;
    let metadata: String = row.get(at + 8)?;
    let event_id = Uuid::from_slice(&id).unwrap_or_default();
    Ok(Event {
        sequence: row.get(at)?,
        event_id,
        topic: row.get(at + 2)?,
        event_type: row.get(at + 3)?,
        priority: Priority::from_i64(row.get(at + 4)?),
        source: row.get(at + 5)?,
        correlation_id: match row.get_ref(at + 6)?.as_str().unwrap_or_default() {
            // Stored empty when it is the event id (see `bind_event`).
            "" => event_id.to_string(),
            c => c.to_string(),
        },
        payload: serde_json::from_str(&payload).unwrap_or_default(),
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        timestamp_us: row.get(at + 9)?,
    })
}

/// Stored payload and metadata bytes of a row selected with
/// [`EVENT_COLUMNS`] from column `at`, to bound a page's size.
pub fn stored_size(row: &Row<'_>, at: usize) -> rusqlite::Result<usize> {
    Ok(row.get_ref(at + 7)?.as_bytes()?.len() + row.get_ref(at + 8)?.as_bytes()?.len())
}

/// A timestamp for events written now: never earlier than the newest stored
/// event, so timestamps never decrease along the sequence (replay by time
/// binary-searches on that), even if the wall clock steps back.
pub fn write_timestamp(conn: &Connection) -> Result<i64, EventsError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT ts_us FROM events_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(now_us().max(last.unwrap_or(0)))
}

/// One event row; parameters in [`bind_event`] order.
const INSERT_SQL: &str = "INSERT INTO events_log
     (seq, event_id, topic, event_type, priority, source, correlation_id, payload, metadata, ts_us,
      topic_id)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// Binds one event's 11 columns to [`INSERT_SQL`].
///
/// A correlation id equal to the event id (the default: none was given)
/// is stored empty and restored by [`event_from_row`]: 36 fewer bytes per
/// typical row.
fn bind_event(
    stmt: &mut rusqlite::Statement<'_>,
    seq: i64,
    e: &NewEvent,
    ts_us: i64,
    topic_id: i64,
) -> rusqlite::Result<()> {
    let mut buf = Uuid::encode_buffer();
    let own_id = e.event_id.hyphenated().encode_lower(&mut buf);
    let correlation = if e.correlation_id == *own_id {
        ""
    } else {
        e.correlation_id.as_str()
    };
    stmt.raw_bind_parameter(1, seq)?;
    stmt.raw_bind_parameter(2, e.event_id.as_bytes().as_slice())?;
    stmt.raw_bind_parameter(3, e.topic.as_str())?;
    stmt.raw_bind_parameter(4, e.event_type.as_str())?;
    stmt.raw_bind_parameter(5, e.priority.as_i64())?;
    stmt.raw_bind_parameter(6, e.source.as_str())?;
    stmt.raw_bind_parameter(7, correlation)?;
    stmt.raw_bind_parameter(8, e.payload.as_str())?;
    stmt.raw_bind_parameter(9, e.metadata.as_str())?;
    stmt.raw_bind_parameter(10, ts_us)?;
    stmt.raw_bind_parameter(11, topic_id)
}

/// One topic's share of an append.
struct TopicShare {
    count: i64,
    last_seq: i64,
    topic_id: i64,
}

/// SQL that finds a topic's rows through the `(topic_id, seq)` index, for
/// statements that name the topic as parameter `?N`.
pub fn topic_is(param: usize) -> String {
    format!("topic_id = (SELECT topic_id FROM events_topics WHERE topic = ?{param})")
}

/// Events appended by [`append_rows`], handed back with the first sequence
/// given to them (the rest follow in order), so the writer thread does not
/// spend its time freeing them.
#[derive(Debug)]
pub struct Stored {
    /// The events, in order.
    pub events: Vec<NewEvent>,
    /// Sequence of the first.
    pub first: i64,
}

impl Stored {
    /// Each event's place in the stream (topic and correlation id move into
    /// the answer).
    pub fn into_appended(self) -> Vec<Appended> {
        self.events
            .into_iter()
            .zip(self.first..)
            .map(|(e, sequence)| Appended {
                event_id: e.event_id,
                sequence,
                topic: e.topic,
                correlation_id: e.correlation_id,
            })
            .collect()
    }
}

/// Appends events in order, updates per-topic counters and trims topics over
/// their count limit. Returns each event's assigned sequence.
pub fn append(
    conn: &Connection,
    events: Vec<NewEvent>,
    ts_us: i64,
    retention: &Retention,
) -> Result<Vec<Appended>, EventsError> {
    let first = append_rows(conn, &events, ts_us, retention)?;
    Ok(Stored { events, first }.into_appended())
}

/// [`append`] without building the answer: returns the first sequence given.
pub fn append_rows(
    conn: &Connection,
    events: &[NewEvent],
    ts_us: i64,
    retention: &Retention,
) -> Result<i64, EventsError> {
    let first = last_seq(conn)? + 1;
    // Counters first: the upsert gives each topic its id (new topics get
    // the next one), which the rows carry. One lookup per event, through
    // the previous event's topic when it is the same.
    let mut shares: Vec<(&str, TopicShare)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut slot_of: Vec<u32> = Vec::with_capacity(events.len());
    let mut prev: Option<(&str, usize)> = None;
    for (e, seq) in events.iter().zip(first..) {
        let topic = e.topic.as_str();
        let slot = match prev {
            Some((t, slot)) if t == topic => slot,
            _ => *index.entry(topic).or_insert_with(|| {
                shares.push((
                    topic,
                    TopicShare {
                        count: 0,
                        last_seq: 0,
                        topic_id: 0,
                    },
                ));
                shares.len() - 1
            }),
        };
        prev = Some((topic, slot));
        let share = &mut shares[slot].1;
        share.count += 1;
        share.last_seq = seq;
        slot_of.push(slot as u32);
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO events_topics (topic, stored, published, last_seq, last_ts_us, topic_id)
         VALUES (?1, ?2, ?2, ?3, ?4,
                 (SELECT COALESCE(MAX(topic_id), 0) + 1 FROM events_topics))
         ON CONFLICT(topic) DO UPDATE SET
             stored = stored + excluded.stored,
             published = published + excluded.published,
             last_seq = excluded.last_seq,
             last_ts_us = excluded.last_ts_us
         RETURNING topic_id, stored",
    )?;
    let mut over = Vec::new();
    for (topic, share) in shares.iter_mut() {
        let topic: &str = topic;
        let (topic_id, stored): (i64, i64) = upsert
            .query_row(params![topic, share.count, share.last_seq, ts_us], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        share.topic_id = topic_id;
        if let Some(max) = retention.limits_for(topic).max_events {
            let excess = stored - max as i64;
            if excess > 0 {
                over.push((topic, topic_id, excess));
            }
        }
    }
    {
        // One row per statement on purpose: a multi-row INSERT with explicit
        // rowids makes SQLite keep a statement journal (a copy of every page
        // the statement touches), which cost more than it saved (callgrind:
        // +29% instructions with 32 rows per statement; `INSERT OR FAIL`,
        // which needs no statement journal, was still 25% slower).
        let mut insert = conn.prepare_cached(INSERT_SQL)?;
        for ((e, seq), slot) in events.iter().zip(first..).zip(&slot_of) {
            bind_event(
                &mut insert,
                seq,
                e,
                ts_us,
                shares[*slot as usize].1.topic_id,
            )?;
            insert.raw_execute()?;
        }
    }
    let last = first + events.len() as i64 - 1;
    conn.prepare_cached("UPDATE events_stream SET last_seq = ?1 WHERE id = 1")?
        .execute([last])?;
    for (topic, topic_id, excess) in over {
        trim_oldest(conn, topic, topic_id, excess)?;
    }
    Ok(first)
}

/// Deletes the `n` oldest events of a topic.
fn trim_oldest(conn: &Connection, topic: &str, topic_id: i64, n: i64) -> Result<(), EventsError> {
    let boundary: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM events_log WHERE topic_id = ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
        )?
        .query_row(params![topic_id, n], |r| r.get(0))
        .optional()?;
    let deleted = conn
        .prepare_cached("DELETE FROM events_log WHERE topic_id = ?1 AND seq < ?2")?
        .execute(params![topic_id, boundary.unwrap_or(i64::MAX)])?;
    record_trim(conn, topic, deleted as i64)
}

fn record_trim(conn: &Connection, topic: &str, deleted: i64) -> Result<(), EventsError> {
    if deleted > 0 {
        conn.prepare_cached(
            "UPDATE events_topics SET stored = MAX(0, stored - ?2), trimmed = trimmed + ?2
             WHERE topic = ?1",
        )?
        .execute(params![topic, deleted])?;
    }
    Ok(())
}

/// Deletes events older than their topic's age limit; returns how many.
pub fn trim_by_age(conn: &Connection, retention: &Retention) -> Result<u64, EventsError> {
    let now = now_us();
    let topics: Vec<(String, i64)> = conn
        .prepare("SELECT topic, topic_id FROM events_topics WHERE stored > 0")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut total = 0;
    for (topic, topic_id) in topics {
        let Some(age) = retention.limits_for(&topic).max_age else {
            continue;
        };
        let cutoff = now - age.as_micros() as i64;
        // Timestamps never decrease along the sequence, so the first young
        // event bounds the old ones.
        let first_young: Option<i64> = conn
            .prepare_cached(
                "SELECT seq FROM events_log WHERE topic_id = ?1 AND ts_us >= ?2 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![topic_id, cutoff], |r| r.get(0))
            .optional()?;
        let deleted = conn
            .prepare_cached("DELETE FROM events_log WHERE topic_id = ?1 AND seq < ?2")?
            .execute(params![topic_id, first_young.unwrap_or(i64::MAX)])?;
        record_trim(conn, &topic, deleted as i64)?;
        total += deleted as u64;
    }
    Ok(total)
}

/// The first sequence whose timestamp is at or after `ts_us` (one past the
/// newest event when none is). Binary search over the sequence, which is
/// valid because timestamps never decrease along it.
pub fn seq_at_time(conn: &Connection, ts_us: i64) -> Result<i64, EventsError> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(seq), MAX(seq) FROM events_log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(mut lo), Some(max)) = (min, max) else {
        return last_seq(conn).map(|s| s + 1);
    };
    let mut hi = max + 1;
    let mut stmt = conn
        .prepare_cached("SELECT seq, ts_us FROM events_log WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row: Option<(i64, i64)> = stmt
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((s, t)) if t < ts_us => lo = s + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The oldest stored sequence, if any event is stored.
pub fn first_seq(conn: &Connection) -> Result<Option<i64>, EventsError> {
    Ok(conn
        .prepare_cached("SELECT MIN(seq) FROM events_log")?
        .query_row([], |r| r.get(0))?)
}

/// The newest sequence ever assigned (0 for an empty stream).
pub fn last_seq(conn: &Connection) -> Result<i64, EventsError> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT last_seq FROM events_stream WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(v.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::model::EventInput;
    use crate::events::retention::{Limits, RetentionRule};

    fn conn() -> (tempfile::TempDir, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(tmp.path(), &[("events", crate::events::MIGRATIONS)])
            .unwrap();
        let c = store.connect().unwrap();
        (tmp, c)
    }

    fn ev(topic: &str) -> NewEvent {
        EventInput {
            topic: topic.into(),
            event_type: "t".into(),
            ..Default::default()
        }
        .validate("")
        .unwrap()
    }

    #[test]
    fn sequences_are_consecutive_and_count_retention_keeps_the_newest() {
        let (_t, c) = conn();
        let retention = Retention {
            default: Limits::default(),
            rules: vec![RetentionRule::parse("small max_events=3").unwrap()],
        };
        let events: Vec<NewEvent> = (0..5).map(|_| ev("small")).collect();
        let out = append(&c, events, 10, &retention).unwrap();
        let seqs: Vec<i64> = out.iter().map(|a| a.sequence).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        let kept: Vec<i64> = c
            .prepare("SELECT seq FROM events_log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept, vec![3, 4, 5]);
        let stored: i64 = c
            .query_row(
                "SELECT stored FROM events_topics WHERE topic='small'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, 3);
    }

    #[test]
    fn sequences_are_never_reused_after_retention_empties_the_log() {
        let (_t, c) = conn();
        let r = Retention::default();
        append(&c, vec![ev("a"), ev("a"), ev("b")], 1, &r).unwrap();
        assert_eq!(trim_by_age(&c, &r).unwrap(), 3, "ancient events age out");
        let out = append(&c, vec![ev("a")], now_us(), &r).unwrap();
        assert_eq!(out[0].sequence, 4);
    }

    fn read_back(c: &Connection) -> Vec<Event> {
        c.prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM events_log ORDER BY seq"
        ))
        .unwrap()
        .query_map([], |r| event_from_row(r, 0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    #[test]
    fn a_default_correlation_id_is_stored_empty_and_read_back_as_the_event_id() {
        let (_t, c) = conn();
        let own = ev("a");
        let mut given = ev("a");
        given.correlation_id = "game-7".into();
        let ids = [own.event_id, given.event_id];
        append(&c, vec![own, given], 1, &Retention::default()).unwrap();
        let stored: Vec<String> = c
            .prepare("SELECT correlation_id FROM events_log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, vec!["".to_string(), "game-7".to_string()]);
        let back = read_back(&c);
        assert_eq!(back[0].correlation_id, ids[0].to_string());
        assert_eq!(back[1].correlation_id, "game-7");
    }

    #[test]
    fn rows_written_by_the_previous_version_with_the_correlation_id_spelled_out_read_back() {
        let (_t, c) = conn();
        let id = Uuid::now_v7();
        c.execute(
            "INSERT INTO events_log
                 (seq, event_id, topic, event_type, priority, source, correlation_id, payload, metadata, ts_us)
             VALUES (1, ?1, 'nba.games', 'game.started', 2, 'feed', ?2, '{\"team\":\"LAL\"}', '{}', 5)",
            params![id.as_bytes().as_slice(), id.to_string()],
        )
        .unwrap();
        let back = read_back(&c);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].event_id, id);
        assert_eq!(back[0].correlation_id, id.to_string());
        assert_eq!(back[0].payload["team"], "LAL");
    }

    #[test]
    fn a_batch_keeps_its_order_and_gets_consecutive_sequences() {
        let (_t, c) = conn();
        let n = 69;
        let events: Vec<NewEvent> = (0..n).map(|i| ev(&format!("t.{}", i % 3))).collect();
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let out = append(&c, events, 7, &Retention::default()).unwrap();
        assert_eq!(out.iter().map(|a| a.event_id).collect::<Vec<_>>(), ids);
        let back = read_back(&c);
        assert_eq!(back.iter().map(|e| e.event_id).collect::<Vec<_>>(), ids);
        let seqs: Vec<i64> = back.iter().map(|e| e.sequence).collect();
        assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
        assert!(
            back.iter()
                .enumerate()
                .all(|(i, e)| e.topic == format!("t.{}", i % 3))
        );
    }

    #[test]
    fn seq_at_time_finds_the_first_event_at_or_after() {
        let (_t, c) = conn();
        let r = Retention::default();
        append(&c, vec![ev("a"), ev("a")], 100, &r).unwrap();
        append(&c, vec![ev("a")], 200, &r).unwrap();
        append(&c, vec![ev("a")], 300, &r).unwrap();
        assert_eq!(seq_at_time(&c, 0).unwrap(), 1);
        assert_eq!(seq_at_time(&c, 150).unwrap(), 3);
        assert_eq!(seq_at_time(&c, 200).unwrap(), 3);
        assert_eq!(seq_at_time(&c, 301).unwrap(), 5);
    }
}
