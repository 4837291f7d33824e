//! Drivers before v1.6 dial the provider with grpc-go's `Dial(socketPath)`, which sends the
//! socket's path as the HTTP/2 `:authority` (kubernetes-sigs/secrets-store-csi-driver#1862). h2,
//! under tonic, refuses such a request as malformed (RST_STREAM PROTOCOL_ERROR), so every mount
//! from driver v1.4 or v1.5 would fail before reaching the provider.
//!
//! [`AuthorityFix`] sits between the socket and tonic and looks at a connection's first request
//! header block. If its `:authority` is valid (v1.6 sends `localhost`, as tonic clients do), the
//! connection is passed through untouched from then on: a client keeps one authority for its
//! connection. Otherwise every header block of that connection is decoded and re-encoded with
//! `localhost` in its place; every block, not only those that change, so that the HPACK tables
//! of our encoder and of h2's decoder stay in step. Responses pass through untouched. Nothing
//! else in the headers is read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use loona_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// h2's default SETTINGS_MAX_FRAME_SIZE, which tonic keeps: frames we emit stay within it.
const MAX_FRAME: usize = 16_384;
/// h2's default SETTINGS_HEADER_TABLE_SIZE.
const TABLE_SIZE: usize = 4_096;
/// A header block (compressed, or decoded) larger than this ends the connection. A gRPC request's
/// headers are a few hundred bytes; this bounds what one client can make us hold.
const MAX_BLOCK: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;
/// CONTINUATION frames one header block may take. A 64 KiB block needs four of 16 KiB; an
/// empty one adds nothing and would otherwise keep a block open (and us reading) forever.
const MAX_CONTINUATIONS: usize = 16;

/// The connection's read side, rewritten; writes go straight to the socket.
pub struct AuthorityFix<S> {
    inner: S,
    state: State,
    input: BytesMut,
    output: BytesMut,
    /// HEADERS flags and fragments of a block awaiting its END_HEADERS.
    block: Option<(u32, u8, Vec<u8>)>,
    /// CONTINUATION frames of the open block so far.
    continuations: usize,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
    mode: Mode,
    eof: bool,
}

/// What this connection needs, known from its first header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    /// A valid `:authority`: everything passes as it comes.
    Passthrough,
    /// Header blocks are re-encoded.
    Rewrite,
}

impl<S> std::fmt::Debug for AuthorityFix<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityFix").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Preface,
    FrameHeader,
    /// Passing this many payload bytes through as they come.
    Passing(usize),
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S) -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(TABLE_SIZE);
        AuthorityFix {
            inner,
            state: State::Preface,
            input: BytesMut::new(),
            output: BytesMut::new(),
            block: None,
            continuations: 0,
            decoder,
            encoder: Encoder::new(),
            mode: Mode::Undecided,
            eof: false,
        }
    }

    /// Moves what `input` holds to `output`, rewriting complete header blocks.
    fn process(&mut self) -> io::Result<()> {
        loop {
            match self.state {
                State::Preface => {
                    if self.input.len() < PREFACE_LEN {
                        return Ok(());
                    }
                    self.output
                        .extend_from_slice(&self.input.split_to(PREFACE_LEN));
                    self.state = State::FrameHeader;
                }
                State::Passing(0) => self.state = State::FrameHeader,
                State::Passing(left) => {
                    if self.input.is_empty() {
                        return Ok(());
                    }
                    let n = left.min(self.input.len());
                    self.output.extend_from_slice(&self.input.split_to(n));
                    self.state = State::Passing(left - n);
                }
                State::FrameHeader => {
                    if self.input.len() < FRAME_HEADER_LEN {
                        return Ok(());
                    }
                    let h = &self.input[..FRAME_HEADER_LEN];
                    let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                    let (kind, flags) = (h[3], h[4]);
                    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                    if (kind != HEADERS && kind != CONTINUATION) || self.mode == Mode::Passthrough {
                        self.output
                            .extend_from_slice(&self.input.split_to(FRAME_HEADER_LEN));
                        self.state = State::Passing(len);
                        continue;
                    }
                    if len > MAX_BLOCK {
                        return Err(invalid("an HTTP/2 header frame over 64 KiB"));
                    }
                    if self.input.len() < FRAME_HEADER_LEN + len {
                        return Ok(());
                    }
                    self.input.advance(FRAME_HEADER_LEN);
                    let payload = self.input.split_to(len);
                    self.header_frame(kind, flags, stream, &payload)?;
                }
            }
        }
    }

    fn header_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> io::Result<()> {
        match (kind, self.block.as_mut()) {
            (HEADERS, None) => {
                let fragment = unpadded(flags, payload)?;
                if flags & PRIORITY != 0 && fragment.len() < 5 {
                    return Err(invalid("a HEADERS frame shorter than its priority"));
                }
                // The priority fields, if any, stay at the block's front.
                self.block = Some((stream, flags & (END_STREAM | PRIORITY), fragment.to_vec()));
                self.continuations = 0;
            }
            (CONTINUATION, Some((open, _, block))) if *open == stream => {
                self.continuations += 1;
                if self.continuations > MAX_CONTINUATIONS {
                    return Err(invalid(
                        "an HTTP/2 header block in more than 16 CONTINUATION frames",
                    ));
                }
                if block.len() + payload.len() > MAX_BLOCK {
                    return Err(invalid("an HTTP/2 header block over 64 KiB"));
                }
                block.extend_from_slice(payload);
            }
            _ => return Err(invalid("HTTP/2 header frames out of order")),
        }
        if flags & END_HEADERS != 0 {
            let (stream, flags, block) = self.block.take().expect("a block is open");
            self.emit_block(stream, flags, &block)?;
        }
        Ok(())
    }

    fn emit_block(&mut self, stream: u32, flags: u8, block: &[u8]) -> io::Result<()> {
        let (priority, encoded) = block.split_at(if flags & PRIORITY != 0 { 5 } else { 0 });
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut size = 0usize;
        let mut over = false;
        let mut rewrote = false;
        self.decoder
            .decode_with_cb(encoded, |name, value| {
                size = size.saturating_add(name.len() + value.len() + 32);
                if size > MAX_BLOCK {
                    over = true;
                    return;
                }
                let value = if name.as_ref() == b":authority"
                    && http::uri::Authority::try_from(value.as_ref()).is_err()
                {
                    rewrote = true;
                    b"localhost".to_vec()
                } else {
                    value.into_owned()
                };
                headers.push((name.into_owned(), value));
            })
            .map_err(|e| {
                invalid(&format!(
                    "an HTTP/2 header block that does not decode ({e})"
                ))
            })?;
        if over {
            return Err(invalid("HTTP/2 headers over 64 KiB"));
        }
        if self.mode == Mode::Undecided {
            self.mode = if rewrote {
                Mode::Rewrite
            } else {
                Mode::Passthrough
            };
        }
        if self.mode == Mode::Passthrough {
            // The block as the client encoded it, so h2's table follows the client's.
            self.emit_frames(stream, flags, block);
            return Ok(());
        }
        let mut payload = priority.to_vec();
        self.encoder
            .encode_into(
                headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())),
                &mut payload,
            )
            .map_err(|e| invalid(&format!("cannot re-encode HTTP/2 headers ({e})")))?;
        self.emit_frames(stream, flags, &payload);
        Ok(())
    }

    /// Writes `payload` (priority fields, then the header block) as a HEADERS frame and as many
    /// CONTINUATION frames as the frame size needs.
    fn emit_frames(&mut self, stream: u32, flags: u8, payload: &[u8]) {
        let mut chunks = payload.chunks(MAX_FRAME).peekable();
        let mut kind = HEADERS;
        let mut first_flags = flags;
        while let Some(chunk) = chunks.next() {
            let end = if chunks.peek().is_none() {
                END_HEADERS
            } else {
                0
            };
            let len = u32::try_from(chunk.len()).expect("chunks are at most 16 KiB");
            self.output.put_slice(&len.to_be_bytes()[1..]);
            self.output.put_u8(kind);
            self.output.put_u8(first_flags | end);
            self.output.put_u32(stream);
            self.output.put_slice(chunk);
            kind = CONTINUATION;
            first_flags = 0;
        }
        if payload.is_empty() {
            self.output
                .put_slice(&[0, 0, 0, HEADERS, flags | END_HEADERS]);
            self.output.put_u32(stream);
        }
    }
}

/// The fragment of a HEADERS frame without its padding.
fn unpadded(flags: u8, payload: &[u8]) -> io::Result<&[u8]> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let (&pad, rest) = payload
        .split_first()
        .ok_or_else(|| invalid("a padded HTTP/2 frame without its pad length"))?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
        .ok_or_else(|| invalid("HTTP/2 padding longer than its frame"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("refusing {what}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.mode == Mode::Passthrough && this.output.is_empty() && this.input.is_empty() {
                // Decided and drained: the socket's bytes go straight to tonic, with no copy.
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            if !this.output.is_empty() {
                let n = this.output.len().min(buf.remaining());
                buf.put_slice(&this.output.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                // A connection cut inside a frame: hand over what is left as it came, then EOF.
                let n = this.input.len().min(buf.remaining());
                buf.put_slice(&this.input.split_to(n));
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
                continue;
            }
            this.input.extend_from_slice(read.filled());
            this.process()?;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl Connected for AuthorityFix<UnixStream> {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut f = len[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        f
    }

    fn request_headers(authority: &str) -> Vec<(&'static [u8], Vec<u8>)> {
        vec![
            (b":method", b"POST".to_vec()),
            (b":scheme", b"http".to_vec()),
            (b":path", b"/v1alpha1.CSIDriverProvider/Mount".to_vec()),
            (b":authority", authority.as_bytes().to_vec()),
            (b"content-type", b"application/grpc".to_vec()),
        ]
    }

    fn encode(encoder: &mut Encoder<'_>, headers: &[(&'static [u8], Vec<u8>)]) -> Vec<u8> {
        encoder.encode(headers.iter().map(|(n, v)| (*n, v.as_slice())))
    }

    /// Reads everything through the adapter, `chunk` bytes at a time from the socket side.
    async fn through(input: Vec<u8>, chunk: usize) -> io::Result<Vec<u8>> {
        let (mut tx, rx) = tokio::io::duplex(chunk);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in input.chunks(chunk) {
                if tx.write_all(piece).await.is_err() {
                    break;
                }
            }
        });
        let mut out = Vec::new();
        let result = AuthorityFix::new(rx).read_to_end(&mut out).await;
        writer.await.unwrap();
        result.map(|_| out)
    }

    /// Splits `bytes` after the preface into frames: (kind, flags, stream, payload).
    fn frames(bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        assert_eq!(&bytes[..PREFACE.len()], PREFACE);
        let mut rest = &bytes[PREFACE.len()..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
            let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
            out.push((rest[3], rest[4], stream, rest[9..9 + len].to_vec()));
            rest = &rest[9 + len..];
        }
        out
    }

    fn decoded(decoder: &mut Decoder<'_>, block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        decoder.decode(block).unwrap()
    }

    #[tokio::test]
    async fn a_socket_path_as_authority_becomes_localhost_and_everything_else_passes_unchanged() {
        let mut encoder = Encoder::new();
        let first = encode(
            &mut encoder,
            &request_headers("/var/run/secrets-store/pulumi.sock"),
        );
        // The second request reuses the dynamic table entry the first one added.
        let second = encode(
            &mut encoder,
            &request_headers("/var/run/secrets-store/pulumi.sock"),
        );
        let data = frame(0x0, END_STREAM, 1, b"\0\0\0\0\x02ab");
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[]));
        // A padded HEADERS frame with priority, whose block is split over a CONTINUATION.
        let mut padded = vec![3u8, 0, 0, 0, 0, 16];
        padded.extend(&first[..4]);
        padded.extend([0, 0, 0]);
        input.extend(frame(HEADERS, PADDED | PRIORITY, 1, &padded));
        input.extend(frame(CONTINUATION, END_HEADERS, 1, &first[4..]));
        input.extend(&data);
        input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &second));

        for chunk in [1, 7, 64 * 1024] {
            let out = through(input.clone(), chunk).await.unwrap();
            let frames = frames(&out);
            assert_eq!(frames.len(), 4, "chunk {chunk}");
            assert_eq!(frames[0], (0x4, 0, 0, vec![]));
            let mut decoder = Decoder::new();
            let (kind, flags, stream, payload) = &frames[1];
            assert_eq!(
                (*kind, *flags, *stream),
                (HEADERS, PRIORITY | END_HEADERS, 1)
            );
            assert_eq!(&payload[..5], &[0, 0, 0, 0, 16]);
            let want: Vec<(Vec<u8>, Vec<u8>)> = request_headers("localhost")
                .into_iter()
                .map(|(n, v)| (n.to_vec(), v))
                .collect();
            assert_eq!(decoded(&mut decoder, &payload[5..]), want);
            assert_eq!(frame(0x0, END_STREAM, 1, &frames[2].3), data);
            let (kind, flags, stream, payload) = &frames[3];
            assert_eq!(
                (*kind, *flags, *stream),
                (HEADERS, END_HEADERS | END_STREAM, 3)
            );
            assert_eq!(decoded(&mut decoder, payload), want);
        }
    }

    #[tokio::test]
    async fn grpc_go_1_56s_own_bytes_come_out_with_localhost_as_authority() {
        // What driver v1.5's client wrote for a Version call on socket /tmp/cap.sock (recorded
        // from peers/driver-v1.5-client): a Huffman-coded :authority, indexed for reuse.
        let recorded = include_bytes!("../../tests/fixtures/grpc-go-1.56-version-call.bin");
        let out = through(recorded.to_vec(), 7).await.unwrap();
        let frames = frames(&out);
        let (kind, flags, _, block) = frames.iter().find(|f| f.0 == HEADERS).unwrap();
        assert_eq!(flags & END_HEADERS, END_HEADERS, "{kind}");
        let headers = decoded(&mut Decoder::new(), block);
        let get = |name: &[u8]| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(get(b":authority").as_deref(), Some("localhost"));
        assert_eq!(
            get(b":path").as_deref(),
            Some("/v1alpha1.CSIDriverProvider/Version")
        );
        assert_eq!(get(b"content-type").as_deref(), Some("application/grpc"));
        // The DATA frame with the request message passes as it came.
        assert!(out.ends_with(b"\x0a\x08v1alpha1"));
    }

    #[tokio::test]
    async fn a_valid_authority_is_kept() {
        let mut encoder = Encoder::new();
        let block = encode(&mut encoder, &request_headers("localhost:50051"));
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &block));
        let out = through(input, 1024).await.unwrap();
        let headers = decoded(&mut Decoder::new(), &frames(&out)[0].3);
        assert_eq!(
            headers[3],
            (b":authority".to_vec(), b"localhost:50051".to_vec())
        );
    }

    #[tokio::test]
    async fn a_connection_whose_first_request_has_a_valid_authority_passes_byte_for_byte() {
        let mut encoder = Encoder::new();
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[]));
        let first = encode(&mut encoder, &request_headers("localhost"));
        input.extend(frame(HEADERS, END_HEADERS, 1, &first));
        input.extend(frame(0x0, END_STREAM, 1, b"\0\0\0\0\x02ab"));
        // Later blocks are not even looked at, whatever they hold.
        input.extend(frame(HEADERS, END_HEADERS, 3, &[0xff; 40]));
        assert_eq!(through(input.clone(), 5).await.unwrap(), input);
    }

    #[tokio::test]
    async fn a_header_block_that_decodes_to_more_than_its_budget_ends_the_connection() {
        // One 4000-byte header in the dynamic table, then referenced 64 times: 256 KB from a
        // 64-byte block. The adapter refuses rather than holding it.
        let mut encoder = Encoder::new();
        let big = vec![b'x'; 4000];
        let mut first = encode(&mut encoder, &[(b"x-big", big.clone())]);
        let index = encode(&mut encoder, &[(b"x-big", big)]);
        assert_eq!(index.len(), 1, "an indexed field");
        first.extend(std::iter::repeat_n(index[0], 64));
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &first));
        let error = through(input, 1024).await.unwrap_err();
        assert_eq!(error.to_string(), "refusing HTTP/2 headers over 64 KiB");
    }

    #[tokio::test]
    async fn garbage_in_a_header_block_ends_the_connection_instead_of_reaching_tonic() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(
            HEADERS,
            END_HEADERS,
            1,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ));
        let error = through(input.clone(), 3).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("refusing an HTTP/2 header block that does not decode"),
            "{error}"
        );
        let mut input = PREFACE.to_vec();
        input.extend(frame(CONTINUATION, END_HEADERS, 1, &[0x82]));
        let error = through(input, 3).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "refusing HTTP/2 header frames out of order"
        );
    }

    #[tokio::test]
    async fn endless_empty_continuation_frames_end_the_connection() {
        // Zero-length CONTINUATIONs add no bytes to the block: only their count stops them.
        let mut encoder = Encoder::new();
        let block = encode(&mut encoder, &request_headers("/tmp/x.sock"));
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, 0, 1, &block[..2]));
        for _ in 0..100_000 {
            input.extend(frame(CONTINUATION, 0, 1, &[]));
        }
        let error = through(input, 64 * 1024).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "refusing an HTTP/2 header block in more than 16 CONTINUATION frames"
        );
        // 16 are still fine, and the count starts again with each block.
        let mut encoder = Encoder::new();
        let mut input = PREFACE.to_vec();
        for stream in [1, 3] {
            input.extend(frame(HEADERS, 0, stream, &[]));
            for _ in 0..15 {
                input.extend(frame(CONTINUATION, 0, stream, &[]));
            }
            let block = encode(&mut encoder, &request_headers("/tmp/x.sock"));
            input.extend(frame(CONTINUATION, END_HEADERS, stream, &block));
        }
        let out = through(input, 1024).await.unwrap();
        assert_eq!(frames(&out).len(), 2);
    }

    #[tokio::test]
    async fn a_connection_cut_inside_a_frame_hands_over_what_came() {
        let mut input = PREFACE.to_vec();
        input.extend(&frame(0x0, 0, 1, b"hello")[..7]);
        assert_eq!(through(input.clone(), 2).await.unwrap(), input);
    }
}
