//! A connection's progress: when it last moved bytes (the idlest is closed at the
//! connection bound), and a write that makes none for [`WRITE_STALL_TIMEOUT`] fails
//! ([`StallTimer`]). hyper's header timeout covers a client that sends too little; this
//! covers one that reads nothing: its pipelined requests keep hyper writing answers, so
//! the header timer never starts.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::layers::stall::StallTimer;

/// How long a write (or flush, or close) may wait for the client to read.
pub(crate) const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// When a connection last moved bytes, in milliseconds since its server's epoch.
pub(crate) struct Activity {
    epoch: Instant,
    last: AtomicU64,
}

impl Activity {
    /// Active now.
    pub(crate) fn new(epoch: Instant) -> Self {
        let activity = Activity {
            epoch,
            last: AtomicU64::new(0),
        };
        activity.touch();
        activity
    }

    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// The last time it moved bytes; smaller is idler.
    pub(crate) fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

pin_project! {
    /// `inner`, its progress stamped in `activity`, its stalled writes timed out.
    pub(crate) struct Progress<I> {
        #[pin]
        inner: I,
        activity: Arc<Activity>,
        stall: StallTimer,
    }
}

impl<I> Progress<I> {
    pub(crate) fn new(inner: I, activity: Arc<Activity>) -> Self {
        Progress {
            inner,
            activity,
            stall: StallTimer::new(Some(WRITE_STALL_TIMEOUT)),
        }
    }
}

impl<I: AsyncWrite> Progress<I> {
    /// One write-side operation: timed by the stall timer, stamped when it moved bytes.
    fn poll_write_side<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut I>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let this = self.project();
        let outcome = op(this.inner, cx);
        let outcome = this.stall.check(cx, outcome);
        if matches!(outcome, Poll::Ready(Ok(_))) {
            this.activity.touch();
        }
        outcome
    }
}

impl<I: AsyncRead> AsyncRead for Progress<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        result
    }
}

impl<I: AsyncWrite> AsyncWrite for Progress<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_side(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_side(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_side(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_side(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_reads_fails_after_the_timeout() {
        let epoch = Instant::now();
        let (ours, mut theirs) = tokio::io::duplex(64);
        let activity = Arc::new(Activity::new(epoch));
        let mut io = Progress::new(ours, Arc::clone(&activity));
        io.write_all(&[1; 64]).await.unwrap(); // fills the pipe
        let started = tokio::time::Instant::now();
        let e = io.write_all(&[2; 64]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), WRITE_STALL_TIMEOUT);
        // A reader that keeps up is never cut, however long the whole takes.
        let reader = tokio::spawn(async move {
            let mut sink = [0u8; 16];
            let mut total = 0;
            while total < 64 + 640 {
                tokio::time::sleep(Duration::from_secs(5)).await;
                total += theirs.read(&mut sink).await.unwrap();
            }
            total
        });
        for _ in 0..10 {
            io.write_all(&[3; 64]).await.unwrap();
        }
        assert!(started.elapsed() > 2 * WRITE_STALL_TIMEOUT);
        drop(io);
        assert_eq!(reader.await.unwrap(), 64 + 640);
    }
}
