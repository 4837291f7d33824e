//! The HTTP/2 adapter in front of the provider's socket (`esc_csi_provider::grpc::authority`), fed
//! whatever a local client might send after the connection preface: it never panics or waits,
//! and it ends (a header block's decoded size is bounded, so is what it hands on).
#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use esc_csi_provider::grpc::authority::AuthorityFix;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(data);
    let mut fix = AuthorityFix::new(input.as_slice());
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut fix).poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(())) if read.filled().is_empty() => break,
            Poll::Ready(Ok(())) => out.extend_from_slice(read.filled()),
            Poll::Ready(Err(_)) => break,
            Poll::Pending => panic!("an in-memory reader never waits"),
        }
    }
});
