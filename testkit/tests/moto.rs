//! The harness itself: a server starts on a free port, answers, hands out
//! certificates, and is gone when dropped.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use testkit::Moto;

#[test]
fn starts_answers_and_issues_certificates() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"));
    let arn = moto.certificate("*.example.com", "us-west-2").unwrap();
    assert!(
        arn.starts_with("arn:aws:acm:us-west-2:123456789012:certificate/"),
        "{arn}"
    );
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    drop(moto);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server must stop with the value"
    );
}
