//! The smallest HTTP client a test needs: one GET on loopback, HTTP/1.0.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// GET `path` on `127.0.0.1:port`: (status code, body), or `None` when nothing
/// answers within `timeout` or the answer is not HTTP.
pub fn get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    get_from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), path, timeout)
}

/// GET `path` on `addr` (a loopback address of either family), as [`get`].
pub fn get_from(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let code = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}
