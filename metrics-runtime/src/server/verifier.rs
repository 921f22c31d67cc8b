//! Threads of their own for bcrypt, at a low priority (nice 10, on Linux). A
//! verification is tens of milliseconds of one core by design; run on tokio's blocking
//! pool at normal priority, each one a flood of bad logins forces would take that core
//! from the service's own work, and a thread from a pool the service may need. Here the
//! service's threads come first, and the pool is the callers' bound (a semaphore), not
//! the queue's.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// The threads; they end when this is dropped.
pub(crate) struct Verifier {
    jobs: Mutex<Sender<Job>>,
}

/// How much lower than the service a verification runs (Linux `nice`).
const NICENESS: i32 = 10;

impl Verifier {
    /// Starts `threads` threads.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("keychain-metrics-bcrypt-{n}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Verifier {
            jobs: Mutex::new(jobs),
        })
    }

    /// Runs `job` on one of the threads; `None` if they are gone.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(job());
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job);
        sent.ok()?;
        rx.await.ok()
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; the thread lowers its own
    // priority (a failure leaves it as it was).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS);
    }
    loop {
        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return, // the verifier is gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_niced_threads_that_end_with_it() {
        let verifier = Verifier::new(2).unwrap();
        let (name, nice) = verifier
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                // SAFETY: getpriority takes no pointers.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                (name, nice)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("keychain-metrics-bcrypt-"));
        #[cfg(target_os = "linux")]
        assert_eq!(nice, NICENESS);
        let _ = nice;
        assert_eq!(verifier.run(|| 6 * 7).await, Some(42));
    }
}
