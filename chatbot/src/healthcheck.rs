//! `bedrock-chatbot healthcheck`: the container's own health check, for an image with
//! no shell and no curl. One HTTP/1.1 GET of `/?health=check` on loopback; healthy
//! only on a 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::health::HEALTH_CHECK;

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// No connection, or it broke.
    #[error("cannot reach {addr}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Answered, but not 200.
    #[error("{addr} answered {status_line:?}")]
    Unhealthy {
        /// Where.
        addr: SocketAddr,
        /// The status line.
        status_line: String,
    },
}

/// Checks the server at `addr`, giving up after `timeout` per step.
pub fn check(addr: SocketAddr, timeout: Duration) -> Result<(), HealthcheckError> {
    let io = |source| HealthcheckError::Io { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET {HEALTH_CHECK} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: bedrock-chatbot-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() {
        let n = stream.read(&mut head[read..]).map_err(io)?;
        if n == 0 {
            break;
        }
        read += n;
        if head[..read].contains(&b'\n') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head[..read]);
    let status_line = text.lines().next().unwrap_or_default().to_string();
    let mut words = status_line.split_whitespace();
    let healthy =
        words.next().is_some_and(|v| v.starts_with("HTTP/1.")) && words.next() == Some("200");
    if healthy {
        Ok(())
    } else {
        Err(HealthcheckError::Unhealthy { addr, status_line })
    }
}
