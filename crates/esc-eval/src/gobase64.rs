//! Base64 decoded as Go's `base64.StdEncoding.DecodeString` decodes it, which the reference
//! uses for `fn::fromBase64` and `!!binary`: padding required, `\r` and `\n` skipped,
//! non-zero trailing bits accepted, and an error that names the offset of the bad byte
//! (`illegal base64 data at input byte N`).

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The decoded bytes, or the offset Go reports.
pub(crate) fn decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    let newline = |c: u8| c == b'\n' || c == b'\r';
    loop {
        let mut buf = [0u8; 4];
        let mut len = 4;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = sextet(c) {
                buf[j] = v;
                j += 1;
                continue;
            }
            if newline(c) {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            // Padding: the end of the input.
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && newline(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                return Err(si);
            }
            len = j;
            break;
        }
        let v = u32::from(buf[0]) << 18
            | u32::from(buf[1]) << 12
            | u32::from(buf[2]) << 6
            | u32::from(buf[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if len < 4 {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    /// Each text as github.com/pulumi/esc v0.26.0's `fn::fromBase64` reported it.
    #[test]
    fn as_go_decodes() {
        for (text, want) in [
            ("!!!", Err(0)),
            ("aGVsbG8", Err(4)),
            ("aGVsbG8=x", Err(8)),
            ("aGVs bG8=", Err(4)),
            ("aGVsbG8==", Err(8)),
            ("====", Err(0)),
            ("a", Err(0)),
            ("ab=", Err(3)),
            ("aGVsbA==", Ok(b"hell".to_vec())),
            ("aGVsbB==", Ok(b"hell".to_vec())),
            ("aGVs\nbG8=\r\n", Ok(b"hello".to_vec())),
            ("", Ok(Vec::new())),
        ] {
            assert_eq!(decode(text.as_bytes()), want, "{text:?}");
        }
    }
}
