//! The ciphertext envelope of `fn::secret: {ciphertext: ...}`: base64 of `"escx"`, a
//! big-endian u32 version (1), the ciphertext, and a big-endian CRC-32 (IEEE) of all that
//! precedes it. Decryption itself is the caller's [`crate::Decrypter`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const MAGIC: &[u8; 4] = b"escx";
const VERSION: u32 = 1;

/// Why an envelope cannot be opened; the texts are the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("illegal base64 data at input byte {0}")]
    Base64(usize),
    #[error("EOF")]
    TooShort,
    #[error("invalid header")]
    Header,
    #[error("invalid checksum")]
    Checksum,
    #[error("unsupported version")]
    Version,
}

/// Extracts the ciphertext from its envelope.
pub fn decode_envelope(text: &str) -> Result<Vec<u8>, EnvelopeError> {
    let bin = STANDARD.decode(text).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            EnvelopeError::Base64(at)
        }
        _ => EnvelopeError::Base64(text.len().saturating_sub(text.len() % 4)),
    })?;
    if bin.len() < 16 {
        return Err(EnvelopeError::TooShort);
    }
    if &bin[..4] != MAGIC {
        return Err(EnvelopeError::Header);
    }
    let (body, sum) = bin.split_at(bin.len() - 4);
    let expected = u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]);
    if crc32fast::hash(body) != expected {
        return Err(EnvelopeError::Checksum);
    }
    if u32::from_be_bytes([bin[4], bin[5], bin[6], bin[7]]) != VERSION {
        return Err(EnvelopeError::Version);
    }
    Ok(body[8..].to_vec())
}

/// Wraps ciphertext in an envelope.
#[must_use]
pub fn encode_envelope(ciphertext: &[u8]) -> String {
    let mut bin = Vec::with_capacity(ciphertext.len() + 12);
    bin.extend_from_slice(MAGIC);
    bin.extend_from_slice(&VERSION.to_be_bytes());
    bin.extend_from_slice(ciphertext);
    let sum = crc32fast::hash(&bin);
    bin.extend_from_slice(&sum.to_be_bytes());
    STANDARD.encode(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_rejects_tampering() {
        let text = encode_envelope(b"secret bytes");
        assert_eq!(decode_envelope(&text).unwrap(), b"secret bytes");
        let mut bin = STANDARD.decode(&text).unwrap();
        bin[9] ^= 1;
        assert_eq!(
            decode_envelope(&STANDARD.encode(bin)),
            Err(EnvelopeError::Checksum)
        );
        assert_eq!(decode_envelope("aGk="), Err(EnvelopeError::TooShort));
    }
}
