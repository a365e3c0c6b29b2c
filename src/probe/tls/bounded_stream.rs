//! A stream whose read side fails past a byte limit, so the STARTTLS prelude and the handshake of
//! a hostile or broken server read a bounded amount.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The read side fails once `limit` bytes came in:
/// the handshake of a hostile or broken server is bounded.
pub(super) struct BoundedStream<S> {
    inner: S,
    read_total: usize,
    limit: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("read limit of {limit} bytes exceeded")]
pub(super) struct ReadLimitExceeded {
    limit: usize,
}

impl<S> BoundedStream<S> {
    pub(super) fn new(inner: S, limit: usize) -> Self {
        Self {
            inner,
            read_total: 0,
            limit,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for BoundedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Checked before reading: bytes already read are always delivered
        // (the AsyncRead contract), so one read may overshoot by a buffer.
        if this.read_total >= this.limit {
            return Poll::Ready(Err(io::Error::other(ReadLimitExceeded {
                limit: this.limit,
            })));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.read_total += buf.filled().len() - before;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BoundedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn bounded_stream_stops_reading_past_its_limit() {
        let (client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let _ = server.write_all(&[0u8; 600]).await;
            let _ = server.write_all(&[0u8; 600]).await;
        });
        let mut bounded = BoundedStream::new(client, 1000);
        let mut sink = Vec::new();
        let error = bounded
            .read_to_end(&mut sink)
            .await
            .expect_err("limit must trip");
        assert!(error
            .get_ref()
            .is_some_and(|inner| inner.is::<ReadLimitExceeded>()));
        assert!(sink.len() <= 1000 + 1024, "read {} bytes", sink.len());
    }
}
