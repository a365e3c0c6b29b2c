//! One port-43 exchange (RFC 3912): resolve, connect, send the query line, read until the server
//! closes, all within one timeout. The reply is read up to `max_bytes` and no further: a longer
//! reply is kept up to there and marked cut ([`Reply::cut`]), never buffered whole and never
//! thrown away (the expiry is usually in its first lines).
//!
//! whois-rust still chooses the server and validates the query; it stops at its size cap with an
//! error and drops what it read, so the exchange itself is done here.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use whois_rust::validators::models::Host;
use whois_rust::WhoIsServerValue;

/// What a server sent.
#[derive(Debug)]
pub(super) struct Reply {
    /// At most `max_bytes`.
    pub(super) bytes: Vec<u8>,
    /// The server had more to say than `max_bytes`: `bytes` is its beginning.
    pub(super) cut: bool,
}

/// Why an exchange gave no reply.
#[derive(Debug)]
pub(super) enum Port43Error {
    /// The whole exchange did not end within the timeout.
    Timeout,
    /// The name did not resolve, nothing accepted the connection, or it broke.
    Io(io::Error),
}

/// Asks `server` about `target` (a validated one-line domain); the whole exchange within
/// `timeout`, the reply read up to `max_bytes`.
pub(super) async fn ask(
    server: &WhoIsServerValue,
    target: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Reply, Port43Error> {
    match tokio::time::timeout(timeout, exchange(server, target, max_bytes)).await {
        Ok(result) => result.map_err(Port43Error::Io),
        Err(_) => Err(Port43Error::Timeout),
    }
}

async fn exchange(server: &WhoIsServerValue, target: &str, max_bytes: usize) -> io::Result<Reply> {
    let port = server.host.port().unwrap_or(super::WHOIS_PORT);
    let addresses: Vec<SocketAddr> = match server.host.host() {
        Host::IPv4(ip) => vec![SocketAddr::new((*ip).into(), port)],
        Host::IPv6(ip) => vec![SocketAddr::new((*ip).into(), port)],
        // A server named in configuration, resolved as whois-rust resolves it.
        Host::Domain(name) => tokio::net::lookup_host((name.as_str(), port))
            .await?
            .collect(),
    };
    let mut stream = connect(&addresses).await?;
    stream.write_all(request(server, target).as_bytes()).await?;
    stream.flush().await?;
    // One byte past the cap tells "exactly fits" from "cut".
    let mut bytes = Vec::new();
    (&mut stream)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    let cut = bytes.len() > max_bytes;
    bytes.truncate(max_bytes);
    Ok(Reply { bytes, cut })
}

async fn connect(addresses: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the server's name resolved to no address",
        )
    }))
}

/// The query line: the server's template (`$addr` replaced) or the bare name, ended by CRLF.
fn request(server: &WhoIsServerValue, target: &str) -> String {
    let mut line = match &server.query {
        Some(template) => template.replace("$addr", target),
        None => target.to_owned(),
    };
    while line.ends_with(['\r', '\n']) {
        line.pop();
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_one_crlf_terminated_line() {
        let mut server = WhoIsServerValue::from_string("127.0.0.1:4343").expect("server");
        assert_eq!(request(&server, "example.test"), "example.test\r\n");
        server.query = Some("-T dn,ace $addr\n".to_owned());
        assert_eq!(
            request(&server, "example.test"),
            "-T dn,ace example.test\r\n"
        );
    }
}
