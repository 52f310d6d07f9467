//! The hashing pool's job queue: many producers, a few worker threads, and
//! a worker that waits with a time limit, so that an idle worker notices it
//! is idle (and gives its memory back, see [`super::hashing`]).
//!
//! A `Mutex<mpsc::Receiver>` cannot do that: only the worker holding the
//! lock waits on the channel, the others wait on the lock itself, with no
//! time limit. Here every worker waits on the condition variable, which
//! releases the lock while it waits.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A queue of jobs for worker threads.
pub(super) struct Jobs<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    queued: VecDeque<T>,
    closed: bool,
}

/// What a worker gets from [`Jobs::next`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next<T> {
    Job(T),
    /// No job came within the wait.
    Idle,
    /// The queue was closed and every job in it taken.
    Closed,
}

impl<T> Jobs<T> {
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queued: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job` for one worker; hands it back if the queue is closed.
    pub(super) fn push(&self, job: T) -> Result<(), T> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        state.queued.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// No more jobs: the workers finish what is queued, then stop.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next job, waiting at most `idle` for one.
    pub(super) fn next(&self, idle: Duration) -> Next<T> {
        // None: longer than this clock can count, so for ever.
        let deadline = Instant::now().checked_add(idle);
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queued.pop_front() {
                return Next::Job(job);
            }
            if state.closed {
                return Next::Closed;
            }
            state = match deadline {
                None => self.ready.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Next::Idle;
                    }
                    let waited = self.ready.wait_timeout(state, left);
                    waited.unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_worker_gets_jobs_in_order_then_hears_it_is_idle() {
        let jobs = Jobs::new();
        jobs.push(1).unwrap();
        jobs.push(2).unwrap();
        assert_eq!(jobs.next(Duration::ZERO), Next::Job(1));
        assert_eq!(jobs.next(Duration::ZERO), Next::Job(2));
        assert_eq!(jobs.next(Duration::from_millis(1)), Next::Idle);
    }

    #[test]
    fn closing_lets_the_queued_jobs_finish_and_refuses_new_ones() {
        let jobs = Jobs::new();
        jobs.push(1).unwrap();
        jobs.close();
        assert_eq!(jobs.push(2), Err(2));
        assert_eq!(jobs.next(Duration::MAX), Next::Job(1));
        assert_eq!(jobs.next(Duration::MAX), Next::Closed);
    }

    /// Every waiting worker waits on the queue, not on a lock: each one
    /// hears that it is idle, and a job pushed later reaches one of them.
    #[test]
    fn several_workers_each_hear_they_are_idle() {
        let jobs = Arc::new(Jobs::<u32>::new());
        let all_idle = Arc::new(std::sync::Barrier::new(4));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (jobs, all_idle) = (jobs.clone(), all_idle.clone());
                std::thread::spawn(move || {
                    assert_eq!(jobs.next(Duration::from_millis(50)), Next::Idle);
                    all_idle.wait();
                    jobs.next(Duration::MAX)
                })
            })
            .collect();
        all_idle.wait();
        for _ in 0..3 {
            jobs.push(7).unwrap();
        }
        for worker in workers {
            assert_eq!(worker.join().unwrap(), Next::Job(7));
        }
    }
}
