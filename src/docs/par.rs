//! Files are independent until their items are joined, so reading,
//! parsing and rendering them runs on every core: [`map`] is an ordered
//! parallel map over scoped threads (std only; no thread pool outlives a
//! call).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Threads for one call: the machine's parallelism, at most one per item.
fn threads(items: usize) -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items)
        .max(1)
}

/// `f` over `items` on up to [`std::thread::available_parallelism`]
/// threads, results in the order of `items`. `on_done(&result)` runs on the
/// calling thread as each result arrives (in completion order); when it
/// returns `false` the items not yet started are skipped and `None` is
/// returned.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    mut on_done: impl FnMut(&R) -> bool,
) -> Option<Vec<R>> {
    let workers = threads(items.len());
    if workers <= 1 {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let r = f(item);
            if !on_done(&r) {
                return None;
            }
            out.push(r);
        }
        return Some(out);
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let (done_tx, done_rx) = mpsc::channel::<usize>();
    let finished = std::thread::scope(|s| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (next, stop, slots, f) = (&next, &stop, &slots, &f);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    if done_tx.send(i).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for i in done_rx.iter() {
            let slot = slots[i].lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = slot.as_ref()
                && !on_done(r)
            {
                stop.store(true, Ordering::Relaxed);
                return false;
            }
        }
        true
    });
    if !finished {
        return None;
    }
    Some(
        slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .expect("every item was mapped")
            })
            .collect(),
    )
}

/// [`map`] run to the end.
pub fn map_all<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map(items, f, |_| true).expect("a map whose on_done always continues runs to the end")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_and_every_one_is_reported() {
        let items: Vec<u64> = (0..1000).collect();
        let mut seen = 0;
        let out = map(
            &items,
            |x| x * 2,
            |_| {
                seen += 1;
                true
            },
        )
        .unwrap();
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(seen, 1000);
    }

    #[test]
    fn a_false_from_on_done_stops_the_map() {
        let items: Vec<u64> = (0..10_000).collect();
        let started = AtomicUsize::new(0);
        let mut seen = 0;
        let out = map(
            &items,
            |x| {
                started.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(200));
                *x
            },
            |_| {
                seen += 1;
                seen < 5
            },
        );
        assert!(out.is_none());
        assert_eq!(seen, 5);
        assert!(started.load(Ordering::Relaxed) < 10_000);
    }
}
