//! Frame codec: 4-byte big-endian length prefix + JSON body.

use tokio_util::codec::LengthDelimitedCodec;

/// Largest frame body accepted or sent, in bytes (1 MiB). A peer that
/// announces a longer frame gets `frame_too_large` and is disconnected.
pub const MAX_FRAME_LEN: usize = 1_048_576;

/// Builds the codec both ends use: a 4-byte unsigned big-endian length `N`
/// (not counting itself) followed by `N` body bytes, `N ≤ MAX_FRAME_LEN`.
///
/// Decoding a header that announces more than [`MAX_FRAME_LEN`] yields an
/// `io::Error` whose inner error is tokio-util's
/// `LengthDelimitedCodecError`; see [`is_frame_too_large`].
#[must_use]
pub fn frame_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_offset(0)
        .length_field_length(4)
        .length_adjustment(0)
        .num_skip(4)
        .big_endian()
        .max_frame_length(MAX_FRAME_LEN)
        .new_codec()
}

/// True when `err` (from the codec's decoder or encoder) means the frame
/// exceeded [`MAX_FRAME_LEN`].
#[must_use]
pub fn is_frame_too_large(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<tokio_util::codec::LengthDelimitedCodecError>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut as _, Bytes, BytesMut};
    use tokio_util::codec::{Decoder as _, Encoder as _};

    #[test]
    fn round_trips_a_frame_with_big_endian_prefix() {
        let mut codec = frame_codec();
        let mut buf = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"{\"a\":1}"), &mut buf)
            .expect("encode");
        assert_eq!(&buf[..4], &[0, 0, 0, 7]);
        let frame = codec
            .decode(&mut buf)
            .expect("decode")
            .expect("whole frame");
        assert_eq!(&frame[..], b"{\"a\":1}");
    }

    #[test]
    fn partial_frame_waits_for_more_bytes() {
        let mut codec = frame_codec();
        let mut buf = BytesMut::new();
        buf.put_u32(10);
        buf.put_slice(b"{\"a\"");
        assert!(codec.decode(&mut buf).expect("decode").is_none());
    }

    #[test]
    fn oversize_header_is_rejected_before_the_body_arrives() {
        let mut codec = frame_codec();
        let mut buf = BytesMut::new();
        buf.put_u32(u32::try_from(MAX_FRAME_LEN + 1).expect("fits"));
        let err = codec.decode(&mut buf).expect_err("too large");
        assert!(is_frame_too_large(&err));
    }

    #[test]
    fn frame_of_exactly_the_limit_is_accepted() {
        let mut codec = frame_codec();
        let mut buf = BytesMut::new();
        buf.put_u32(u32::try_from(MAX_FRAME_LEN).expect("fits"));
        buf.put_slice(&vec![b' '; MAX_FRAME_LEN]);
        let frame = codec.decode(&mut buf).expect("decode").expect("whole");
        assert_eq!(frame.len(), MAX_FRAME_LEN);
    }
}
