//! The SQLite writer thread: owns the write connection and commits whatever has queued up
//! in one transaction (group commit). A job that fails does not fail its neighbours: the
//! batch is run again at once with each job in a savepoint, so only the failing job is
//! answered with its error.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::unavailable;
use crate::store::{StoreError, StoreResult};

/// How many queued jobs one transaction takes at most.
const MAX_BATCH: usize = 512;
/// Jobs waiting for the writer, at most: callers wait for room beyond (backpressure, not
/// memory growth while the disk is slow or full). Four batches' worth.
pub const QUEUE: usize = 4 * MAX_BATCH;
/// Batches written carefully (each job in a savepoint) after a job failed.
const CAREFUL_BATCHES: u32 = 16;

/// One caller's write, run inside the writer's transaction, perhaps twice (when a
/// neighbour failed), and answered once the transaction has ended.
pub trait WriteJob: Send {
    /// Runs the job's statements; says whether they all succeeded (a failed job may have
    /// left some of its writes: its savepoint or its batch is rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: `None` when its transaction committed, else why not.
    fn answer(self: Box<Self>, commit: Result<(), &StoreError>);
}

/// A write whose inputs (`state`) stay with it, so it can run again, and go back to the
/// caller with the result.
pub struct Write<S, T, F> {
    pub state: S,
    pub f: F,
    pub result: Option<StoreResult<T>>,
    pub reply: oneshot::Sender<StoreResult<(T, S)>>,
}

impl<S, T, F> WriteJob for Write<S, T, F>
where
    S: Send,
    T: Send,
    F: FnMut(&Connection, &S) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.f)(conn, &self.state);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), &StoreError>) {
        let Self { state, result, reply, .. } = *self;
        let answer = match (result, commit) {
            // Its own failure, whatever became of the transaction.
            (Some(Err(e)), _) => Err(e),
            (_, Err(e)) => Err(e.clone()),
            (Some(Ok(t)), Ok(())) => Ok((t, state)),
            (None, Ok(())) => Err(unavailable("the write did not run")),
        };
        // A caller that went away (a dropped request) no longer needs its answer.
        let _ = reply.send(answer);
    }
}

pub type Job = Box<dyn WriteJob>;

/// Prepares a connection for writing (schema, upgrades, pragmas); retried before each
/// batch until it succeeds, so a node can start before the file can be written.
pub type Init = Box<dyn FnMut(&Connection) -> StoreResult<()> + Send>;

pub fn run(mut conn: Connection, mut init: Option<Init>, mut rx: mpsc::Receiver<Job>) {
    let mut careful = 0;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = match init.as_mut().map(|f| f(&conn)) {
            Some(Err(e)) => Err(e),
            ready => {
                if ready.is_some() {
                    init = None;
                    tracing::info!("the SQLite database is created and takes writes");
                }
                write_batch(&mut conn, &mut batch, &mut careful)
            }
        };
        for job in batch {
            job.answer(outcome.as_ref().map(|_| ()));
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &mut [Job], careful: &mut u32) -> StoreResult<()> {
    if *careful > 0 {
        *careful -= 1;
        return run_carefully(conn, batch);
    }
    match run_optimistically(conn, batch) {
        Some(outcome) => outcome,
        None => {
            // A job left half its writes, so the batch was rolled back: run it again at
            // once with each job in a savepoint, so only that job fails (a permanent error
            // is not retried by its neighbours). The next batches do the same, in case the
            // cause is still there.
            *careful = CAREFUL_BATCHES;
            run_carefully(conn, batch)
        }
    }
}

/// Runs every job in the one transaction, without savepoints (which would copy every page
/// they touch): the common case, where nothing fails. None when a job failed (the batch
/// is rolled back).
fn run_optimistically(conn: &mut Connection, batch: &mut [Job]) -> Option<StoreResult<()>> {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => return Some(Err(unavailable(e))),
    };
    if batch.iter_mut().any(|job| !job.run(&tx)) {
        let _ = tx.rollback();
        return None;
    }
    Some(tx.commit().map_err(unavailable))
}

/// Each job in a savepoint, so one failing job does not undo its neighbours. The
/// statements are prepared once: rusqlite's `Savepoint` would parse them for every job.
fn run_carefully(conn: &mut Connection, batch: &mut [Job]) -> StoreResult<()> {
    let tx = conn.transaction().map_err(unavailable)?;
    let step = |sql: &str| tx.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop).map_err(unavailable);
    for job in batch.iter_mut() {
        step("SAVEPOINT job")?;
        if job.run(&tx) {
            step("RELEASE job")?;
        } else {
            step("ROLLBACK TO job")?;
            step("RELEASE job")?;
        }
    }
    tx.commit().map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that fails when told to, counting its runs.
    fn job(fail: bool) -> (Job, oneshot::Receiver<StoreResult<(u32, ())>>) {
        let (reply, answer) = oneshot::channel();
        let mut runs = 0;
        let f = move |c: &Connection, _: &()| {
            runs += 1;
            c.execute("INSERT INTO t (fail) VALUES (?1)", [fail]).map_err(unavailable)?;
            if fail {
                return Err(StoreError::Rejected("this one is refused".into()));
            }
            Ok(runs)
        };
        (Box::new(Write { state: (), f, result: None, reply }), answer)
    }

    #[test]
    fn a_failing_job_fails_alone_and_its_neighbours_commit_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (fail INTEGER)").unwrap();
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut answers = Vec::new();
        for fail in [false, true, false] {
            let (job, answer) = job(fail);
            tx.try_send(job).ok().unwrap();
            answers.push(answer);
        }
        drop(tx);
        std::thread::spawn(move || run(conn, None, rx)).join().unwrap();
        let answers: Vec<_> = answers.into_iter().map(|a| a.blocking_recv().unwrap()).collect();
        assert_eq!(answers[0].as_ref().ok().map(|a| a.0), Some(2), "run again after its neighbour failed");
        assert!(matches!(answers[1], Err(StoreError::Rejected(_))), "{:?}", answers[1]);
        assert!(answers[2].is_ok(), "{:?}", answers[2]);
        let stored: Vec<bool> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT fail FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, [false, false], "the neighbours' rows, once each; none of the refused job's");
    }
}
