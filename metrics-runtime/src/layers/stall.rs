//! A write that makes no progress for a set time fails: the one defence a server has
//! against a client that never reads. Its requests (pipelined, or a download it never
//! takes) keep the server writing into a socket that stays full, and a flush would
//! otherwise wait for ever, holding the connection and its memory.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

/// Times the write-side operations of one connection; see the [module docs](self).
#[derive(Default)]
pub(crate) struct StallTimer {
    limit: Option<Duration>,
    armed: Option<Pin<Box<Sleep>>>,
}

impl StallTimer {
    /// Fails a write that waits `limit`; `None` never does.
    pub(crate) fn new(limit: Option<Duration>) -> Self {
        StallTimer { limit, armed: None }
    }

    /// Passes on the outcome of a write, flush or shutdown: progress disarms the timer,
    /// a wait arms it (once), and a wait past the limit becomes a `TimedOut` error.
    pub(crate) fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if outcome.is_ready() {
            self.armed = None;
            return outcome;
        }
        let Some(limit) = self.limit else {
            return outcome;
        };
        let timer = self
            .armed
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.armed = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer has read nothing for the write timeout",
        )))
    }
}
