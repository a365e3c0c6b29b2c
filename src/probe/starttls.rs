//! The plaintext prelude of STARTTLS services: SMTP (`EHLO`, `STARTTLS`,
//! RFC 3207), IMAP (`a1 STARTTLS`, RFC 3501) and POP3 (`STLS`, RFC 2595).
//!
//! Reads are bounded (line length, lines per reply) and the caller bounds the
//! time. Bytes the server sends after its "go ahead" and before our
//! ClientHello are refused: they would be read as if they came over TLS (the
//! STARTTLS command-injection class of bugs).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::domain::certificate::TlsMode;

/// Longest reply line read, in bytes (RFC 5321 allows 512; servers exceed it).
pub const MAX_LINE_BYTES: usize = 4096;
/// Most lines in one reply (an SMTP EHLO reply lists extensions, one a line).
pub const MAX_REPLY_LINES: usize = 100;

/// Why the upgrade to TLS did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StartTlsError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server said no, or said something else than expected.
    #[error("server replied: {reply}")]
    Refused { reply: String },
    #[error("the server does not offer STARTTLS")]
    NotOffered,
    #[error("reply line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    #[error("reply longer than {MAX_REPLY_LINES} lines")]
    TooManyLines,
    #[error("connection closed before the reply ended")]
    Closed,
    #[error("data received after the STARTTLS go-ahead, before TLS")]
    UnexpectedData,
}

/// Runs the plaintext part of `mode` on `stream` until the server is ready for
/// a ClientHello. `Direct` does nothing. `client_identity` is the EHLO
/// argument for SMTP (an address literal such as `[192.0.2.1]`).
pub async fn upgrade<S>(
    stream: &mut S,
    mode: TlsMode,
    client_identity: &str,
) -> Result<(), StartTlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut lines = LineReader::new(stream);
    match mode {
        TlsMode::Direct => return Ok(()),
        TlsMode::StartTlsSmtp => {
            expect_smtp(&mut lines, "220").await?;
            lines.send(&format!("EHLO {client_identity}\r\n")).await?;
            let extensions = expect_smtp(&mut lines, "250").await?;
            let offered = extensions.iter().any(|line| {
                line.get(4..)
                    .is_some_and(|text| text.trim().eq_ignore_ascii_case("STARTTLS"))
            });
            if !offered {
                return Err(StartTlsError::NotOffered);
            }
            lines.send("STARTTLS\r\n").await?;
            expect_smtp(&mut lines, "220").await?;
        }
        TlsMode::StartTlsImap => {
            let greeting = lines.read_line().await?;
            if !starts_with_ignore_case(&greeting, "* OK") {
                return Err(StartTlsError::Refused { reply: greeting });
            }
            lines.send("a1 STARTTLS\r\n").await?;
            let mut tagged = None;
            for _ in 0..MAX_REPLY_LINES {
                let line = lines.read_line().await?;
                if starts_with_ignore_case(&line, "a1 ") {
                    tagged = Some(line);
                    break;
                }
            }
            let tagged = tagged.ok_or(StartTlsError::TooManyLines)?;
            if !starts_with_ignore_case(&tagged, "a1 OK") {
                return Err(StartTlsError::Refused { reply: tagged });
            }
        }
        TlsMode::StartTlsPop3 => {
            let greeting = lines.read_line().await?;
            if !greeting.starts_with("+OK") {
                return Err(StartTlsError::Refused { reply: greeting });
            }
            lines.send("STLS\r\n").await?;
            let reply = lines.read_line().await?;
            if !reply.starts_with("+OK") {
                return Err(StartTlsError::Refused { reply });
            }
        }
    }
    if lines.has_buffered_bytes() {
        return Err(StartTlsError::UnexpectedData);
    }
    Ok(())
}

fn starts_with_ignore_case(line: &str, prefix: &str) -> bool {
    line.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Reads one SMTP reply (all its lines) and checks its code.
async fn expect_smtp<S>(
    lines: &mut LineReader<'_, S>,
    code: &str,
) -> Result<Vec<String>, StartTlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut reply = Vec::new();
    for _ in 0..MAX_REPLY_LINES {
        let line = lines.read_line().await?;
        // "250-more follows" vs "250 last line"; a bare "250" ends too.
        let last = line.as_bytes().get(3) != Some(&b'-');
        reply.push(line);
        if last {
            let first = &reply[0];
            if !first.starts_with(code) {
                return Err(StartTlsError::Refused {
                    reply: reply.join(" / "),
                });
            }
            return Ok(reply);
        }
    }
    Err(StartTlsError::TooManyLines)
}

/// Line reader that keeps what it read past the current line, so that the
/// caller can tell whether the server sent more than it should have.
struct LineReader<'a, S> {
    stream: &'a mut S,
    buffer: Vec<u8>,
}

impl<'a, S> LineReader<'a, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(stream: &'a mut S) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, command: &str) -> Result<(), StartTlsError> {
        self.stream.write_all(command.as_bytes()).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// One line without its CRLF, lossily decoded.
    async fn read_line(&mut self) -> Result<String, StartTlsError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
            }
            if self.buffer.len() >= MAX_LINE_BYTES {
                return Err(StartTlsError::LineTooLong);
            }
            let mut chunk = [0u8; 1024];
            let room = (MAX_LINE_BYTES - self.buffer.len()).min(chunk.len());
            let read = self.stream.read(&mut chunk[..room]).await?;
            if read == 0 {
                return Err(StartTlsError::Closed);
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    fn has_buffered_bytes(&self) -> bool {
        !self.buffer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncBufReadExt, BufReader};

    /// Plays a server script: for each (expected client line, server reply),
    /// reads a line if one is expected and writes the reply.
    async fn serve(
        server: tokio::io::DuplexStream,
        script: Vec<(Option<&'static str>, &'static str)>,
    ) -> Vec<String> {
        let mut server = BufReader::new(server);
        let mut heard = Vec::new();
        for (expect, reply) in script {
            if expect.is_some() {
                let mut line = String::new();
                if server.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                heard.push(line.trim_end().to_owned());
            }
            if server.get_mut().write_all(reply.as_bytes()).await.is_err() {
                break;
            }
        }
        heard
    }

    async fn run(
        mode: TlsMode,
        script: Vec<(Option<&'static str>, &'static str)>,
    ) -> (Result<(), StartTlsError>, Vec<String>) {
        let (mut client, server) = duplex(64 * 1024);
        let server = tokio::spawn(serve(server, script));
        let result = upgrade(&mut client, mode, "[127.0.0.1]").await;
        drop(client);
        let heard = server.await.expect("server task");
        (result, heard)
    }

    #[tokio::test]
    async fn smtp_sends_ehlo_then_starttls_when_offered() {
        let (result, heard) = run(
            TlsMode::StartTlsSmtp,
            vec![
                (None, "220 mail.example ESMTP\r\n"),
                (
                    Some("EHLO"),
                    "250-mail.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                ),
                (Some("STARTTLS"), "220 2.0.0 Ready to start TLS\r\n"),
            ],
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(heard, vec!["EHLO [127.0.0.1]", "STARTTLS"]);
    }

    #[tokio::test]
    async fn smtp_without_starttls_in_ehlo_is_not_offered() {
        let (result, heard) = run(
            TlsMode::StartTlsSmtp,
            vec![
                (None, "220 mail.example ESMTP\r\n"),
                (Some("EHLO"), "250-mail.example\r\n250 SIZE 1000\r\n"),
            ],
        )
        .await;
        assert!(
            matches!(result, Err(StartTlsError::NotOffered)),
            "{result:?}"
        );
        assert_eq!(heard, vec!["EHLO [127.0.0.1]"]);
    }

    #[tokio::test]
    async fn smtp_refusal_carries_the_reply() {
        let (result, _) = run(
            TlsMode::StartTlsSmtp,
            vec![(None, "554 no service for you\r\n")],
        )
        .await;
        match result {
            Err(StartTlsError::Refused { reply }) => assert_eq!(reply, "554 no service for you"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bytes_after_the_go_ahead_are_refused() {
        let (result, _) = run(
            TlsMode::StartTlsPop3,
            vec![
                (None, "+OK POP3 ready\r\n"),
                (Some("STLS"), "+OK go\r\nextra"),
            ],
        )
        .await;
        assert!(
            matches!(result, Err(StartTlsError::UnexpectedData)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn imap_waits_for_the_tagged_reply() {
        let (result, heard) = run(
            TlsMode::StartTlsImap,
            vec![
                (None, "* OK IMAP4rev1 ready\r\n"),
                (
                    Some("a1 STARTTLS"),
                    "* CAPABILITY IMAP4rev1\r\na1 OK Begin TLS negotiation now\r\n",
                ),
            ],
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(heard, vec!["a1 STARTTLS"]);
    }

    #[tokio::test]
    async fn an_endless_line_is_cut_at_the_limit() {
        let (mut client, mut server) = duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            let junk = vec![b'x'; MAX_LINE_BYTES * 2];
            let _ = server.write_all(&junk).await;
            server
        });
        let result = upgrade(&mut client, TlsMode::StartTlsPop3, "[127.0.0.1]").await;
        assert!(
            matches!(result, Err(StartTlsError::LineTooLong)),
            "{result:?}"
        );
        drop(writer.await);
    }
}
