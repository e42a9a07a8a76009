//! Mapping items over the machine's cores, results in the items' order.
//!
//! For work whose items are independent and whose caller decides in order
//! afterwards (errors included), so that running in parallel changes the
//! time taken, never the outcome: hashing a step's files as the walk finds
//! them (`record`), loading a layout's link files (`intoto verify`).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

/// Items a producer hands over at a time in [`map_as_produced`]: few
/// enough that the other threads start early, enough that the hand-over
/// costs nothing next to the work (a file's hash).
const BATCH: usize = 64;

/// `items.iter().map(f).collect()`, with `f` run on up to as many threads
/// as the machine has cores (one thread, the caller's, for a single core
/// or a single item). Items are handed out one at a time, so a few large
/// ones do not leave the other threads idle. A panic in `f` is resumed in
/// the caller.
pub(crate) fn map_in_order<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    map_in_order_with(items, || (), |(), item| f(item))
}

/// [`map_in_order`], each thread with a state of its own made by `init`
/// (a read buffer: made once a thread, not once an item).
pub(crate) fn map_in_order_with<T, S, R, I, F>(items: &[T], init: I, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, &T) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(items.len());
    if threads <= 1 {
        let mut state = init();
        return items.iter().map(|item| f(&mut state, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut state = init();
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(&mut state, item)));
        }
    };
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mine = work();
        for (i, r) in helpers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .chain(mine)
        {
            slots[i] = Some(r);
        }
    });
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every index is handed out once")))
        .collect()
}

/// Runs `produce` on the caller's thread, which hands items to `push`
/// one at a time, while the machine's other cores map them with `f` (each
/// thread with a state made by `init`); once `produce` returns, the
/// caller's thread maps what is left too. The results come back in the
/// order the items were pushed. If `produce` fails, the other threads stop
/// at their next batch and its error is returned. A panic in `f` is resumed
/// in the caller.
pub(crate) fn map_as_produced<T, S, R, E, P, I, F>(produce: P, init: I, f: F) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    P: FnOnce(&mut dyn FnMut(T)) -> Result<(), E>,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, T) -> R + Sync,
{
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    map_as_produced_with(cores - 1, produce, init, f)
}

/// [`map_as_produced`] with `helpers` threads beside the caller's.
fn map_as_produced_with<T, S, R, E, P, I, F>(
    helpers: usize,
    produce: P,
    init: I,
    f: F,
) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    P: FnOnce(&mut dyn FnMut(T)) -> Result<(), E>,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, T) -> R + Sync,
{
    let (tx, rx) = mpsc::channel::<(usize, Vec<T>)>();
    let rx = Mutex::new(rx);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut state = init();
        let mut done = Vec::new();
        loop {
            // The lock is held while waiting, by one thread at a time; the
            // others wait for the lock instead.
            let next = rx.lock().map_or(None, |rx| rx.recv().ok());
            let Some((first, items)) = next else {
                return done;
            };
            if failed.load(Ordering::Relaxed) {
                return done;
            }
            for (i, item) in items.into_iter().enumerate() {
                done.push((first + i, f(&mut state, item)));
            }
        }
    };
    let (produced, count, results) = std::thread::scope(|s| {
        let threads: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        let (mut count, mut batch) = (0usize, Vec::with_capacity(BATCH));
        let produced = produce(&mut |item| {
            batch.push(item);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // The receiver lives until this scope ends.
                let _ = tx.send((count, full));
                count += BATCH;
            }
        });
        let n = batch.len();
        let _ = tx.send((count, batch));
        count += n;
        drop(tx);
        if produced.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        let mut results = work();
        for t in threads {
            results.extend(t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        (produced, count, results)
    });
    produced?;
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(count).collect();
    for (i, r) in results {
        slots[i] = Some(r);
    }
    Ok(slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every item is mapped once")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_items_order() {
        let items: Vec<u64> = (0..10_000).collect();
        let out = map_in_order(&items, |x| x * 3);
        assert_eq!(out, items.iter().map(|x| x * 3).collect::<Vec<_>>());
        assert!(map_in_order(&[] as &[u8], |x| *x).is_empty());
        assert_eq!(map_in_order(&[7u8], |x| *x), vec![7]);
    }

    #[test]
    fn each_thread_keeps_its_own_state() {
        let items: Vec<u64> = (0..1000).collect();
        // The state counts the items its thread mapped: every count is at
        // least one and they never run past the items.
        let out = map_in_order_with(
            &items,
            || 0u64,
            |seen, x| {
                *seen += 1;
                (*x, *seen)
            },
        );
        assert!(out.iter().enumerate().all(|(i, (x, _))| *x == i as u64));
        assert!(out.iter().all(|(_, seen)| (1..=1000).contains(seen)));
    }

    #[test]
    fn items_produced_one_at_a_time_come_back_in_order() {
        // No helper (one core: everything after the producer), one, several.
        for helpers in [0, 1, 3] {
            for n in [0, 1, BATCH - 1, BATCH, BATCH + 1, 10 * BATCH + 7] {
                let out = map_as_produced_with(
                    helpers,
                    |push| {
                        for i in 0..n {
                            push(i);
                        }
                        Ok::<(), ()>(())
                    },
                    || (),
                    |(), x| x * 3,
                );
                let want = (0..n).map(|x| x * 3).collect::<Vec<_>>();
                assert_eq!(out, Ok(want), "{helpers} helpers, {n} items");
            }
        }
    }

    #[test]
    fn a_failed_producer_is_its_error() {
        for helpers in [0, 1, 3] {
            let out = map_as_produced_with(
                helpers,
                |push| {
                    for i in 0..100 * BATCH {
                        push(i);
                    }
                    Err("walk failed")
                },
                || (),
                |(), x| x,
            );
            assert_eq!(out, Err("walk failed"), "{helpers} helpers");
        }
    }

    #[test]
    #[should_panic(expected = "item 5")]
    fn a_panic_while_producing_items_reaches_the_caller() {
        let _ = map_as_produced(
            |push| {
                for i in 0..1000 {
                    push(i);
                }
                Ok::<(), ()>(())
            },
            || (),
            |(), x: u32| {
                assert!(x != 5, "item 5");
            },
        );
    }

    #[test]
    #[should_panic(expected = "item 5")]
    fn a_panic_reaches_the_caller() {
        let items: Vec<u32> = (0..100).collect();
        map_in_order(&items, |x| {
            assert!(*x != 5, "item 5");
        });
    }
}
