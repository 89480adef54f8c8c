//! Regression corpus of malformed and hostile frames (issue 5, "Add the
//! malformed-input corpus as regression tests"). Each entry states exactly
//! what the parser must answer, so a change of behaviour is a deliberate,
//! reviewed change.

use bytes::{BufMut as _, BytesMut};
use coliseum_protocol::codec::is_frame_too_large;
use coliseum_protocol::{ErrorCode, MAX_FRAME_LEN, Op, frame_codec, parse_request, request};
use tokio_util::codec::Decoder as _;

/// What a corpus entry must produce.
enum Expect {
    /// `bad_request` with this id and a message containing the needle.
    Bad(Option<u64>, &'static str),
    /// A request with this id and op name.
    Ok(u64, &'static str),
}

fn check(name: &str, frame: &[u8], expect: &Expect) {
    let got = parse_request(frame);
    match (expect, got) {
        (Expect::Bad(id, needle), Err(err)) => {
            assert_eq!(err.error.code, ErrorCode::BadRequest, "{name}");
            assert_eq!(err.id, *id, "{name}: id");
            assert!(
                err.error.message.contains(needle),
                "{name}: {:?} lacks {needle:?}",
                err.error.message
            );
            assert!(
                err.error.message.len() <= 1_024,
                "{name}: message of {} bytes",
                err.error.message.len()
            );
        }
        (Expect::Ok(id, op), Ok(request)) => {
            assert_eq!(request.id, *id, "{name}: id");
            assert_eq!(request.op.name(), *op, "{name}: op");
        }
        (Expect::Bad(..), Ok(request)) => panic!("{name}: accepted as {request:?}"),
        (Expect::Ok(..), Err(err)) => panic!("{name}: refused: {err:?}"),
    }
}

const NOT_JSON: &str = "not valid JSON";
const NOT_OBJECT: &str = "must hold a JSON object";
const BAD_ID: &str = "\"id\" must be an unsigned 64-bit integer";
const BAD_ARGS: &str = "invalid arguments";

fn nested(open: &str, close: &str, depth: usize) -> Vec<u8> {
    let mut out = open.repeat(depth);
    out.push_str(&close.repeat(depth));
    out.into_bytes()
}

/// `{"id":1,"op":"online","x":` + value + `}`: the value sits in an
/// argument the op ignores, one level below the top object.
fn in_ignored_field(value: &[u8]) -> Vec<u8> {
    let mut out = br#"{"id":1,"op":"online","x":"#.to_vec();
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

#[test]
fn malformed_frames_give_the_expected_error() {
    let long_op = format!(r#"{{"id":9,"op":"{}"}}"#, "a".repeat(MAX_FRAME_LEN - 20));
    let long_multibyte_op = format!(r#"{{"id":9,"op":"{}"}}"#, "é".repeat(100_000));
    let corpus: Vec<(&str, Vec<u8>, Expect)> = vec![
        // --- not JSON at all
        ("empty frame", b"".to_vec(), Expect::Bad(None, NOT_JSON)),
        (
            "white space only",
            b" \n\t ".to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        ("NUL bytes", vec![0; 16], Expect::Bad(None, NOT_JSON)),
        (
            "invalid UTF-8",
            b"\xff\xfe\xfd".to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "invalid UTF-8 inside a string",
            b"{\"id\":1,\"op\":\"chat_send\",\"text\":\"\xc3\x28\"}".to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "overlong UTF-8 encoding of '/'",
            b"{\"id\":1,\"op\":\"chat_send\",\"text\":\"\xc0\xaf\"}".to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "lone surrogate escape",
            br#"{"id":1,"op":"chat_send","text":"\ud800"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "UTF-8 byte order mark",
            b"\xef\xbb\xbf{\"id\":1,\"op\":\"online\"}".to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "trailing garbage",
            br#"{"id":1,"op":"online"} x"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "two objects in one frame",
            br#"{"id":1,"op":"online"}{"id":2,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "truncated object",
            br#"{"id":1,"op":"onl"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "single quotes",
            b"{'id':1,'op':'online'}".to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "trailing comma",
            br#"{"id":1,"op":"online",}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "comment",
            br#"{"id":1,/*x*/"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        // --- NaN-like and out-of-range numbers
        (
            "NaN literal",
            br#"{"id":NaN,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "Infinity literal",
            br#"{"id":Infinity,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "-Infinity literal",
            br#"{"id":-Infinity,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "1e400 overflows f64",
            br#"{"id":1e400,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "a 10,000-digit number",
            format!(r#"{{"id":{},"op":"online"}}"#, "9".repeat(10_000)).into_bytes(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "hex number",
            br#"{"id":0x10,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "leading zero",
            br#"{"id":01,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "plus sign",
            br#"{"id":+1,"op":"online"}"#.to_vec(),
            Expect::Bad(None, NOT_JSON),
        ),
        // --- valid JSON, not an object
        ("null", b"null".to_vec(), Expect::Bad(None, NOT_OBJECT)),
        (
            "array",
            br#"[{"id":1,"op":"online"}]"#.to_vec(),
            Expect::Bad(None, NOT_OBJECT),
        ),
        (
            "string",
            br#""online""#.to_vec(),
            Expect::Bad(None, NOT_OBJECT),
        ),
        ("number", b"42".to_vec(), Expect::Bad(None, NOT_OBJECT)),
        ("boolean", b"true".to_vec(), Expect::Bad(None, NOT_OBJECT)),
        // --- the id
        (
            "empty object",
            b"{}".to_vec(),
            Expect::Bad(None, "missing \"id\""),
        ),
        (
            "id 1e3 (a float, even if whole)",
            br#"{"id":1e3,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id 1.0",
            br#"{"id":1.0,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id 1.5",
            br#"{"id":1.5,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id 2^64 (one past u64::MAX)",
            br#"{"id":18446744073709551616,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id -1",
            br#"{"id":-1,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id -0.0",
            br#"{"id":-0.0,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id as a string",
            br#"{"id":"1","op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id \"NaN\"",
            br#"{"id":"NaN","op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id null",
            br#"{"id":null,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id array",
            br#"{"id":[1],"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id 0 is valid",
            br#"{"id":0,"op":"online"}"#.to_vec(),
            Expect::Ok(0, "online"),
        ),
        (
            "id -0 (read as the float -0.0)",
            br#"{"id":-0,"op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        (
            "id u64::MAX is valid",
            br#"{"id":18446744073709551615,"op":"online"}"#.to_vec(),
            Expect::Ok(u64::MAX, "online"),
        ),
        // --- the op
        (
            "missing op",
            br#"{"id":4}"#.to_vec(),
            Expect::Bad(Some(4), "missing \"op\""),
        ),
        (
            "op null",
            br#"{"id":4,"op":null}"#.to_vec(),
            Expect::Bad(Some(4), "must be a string"),
        ),
        (
            "op number",
            br#"{"id":4,"op":1}"#.to_vec(),
            Expect::Bad(Some(4), "must be a string"),
        ),
        (
            "op wrong case",
            br#"{"id":4,"op":"Online"}"#.to_vec(),
            Expect::Bad(Some(4), "unknown op"),
        ),
        (
            "op with NUL",
            br#"{"id":4,"op":"online\u0000"}"#.to_vec(),
            Expect::Bad(Some(4), "unknown op"),
        ),
        (
            "op with space",
            br#"{"id":4,"op":" online"}"#.to_vec(),
            Expect::Bad(Some(4), "unknown op"),
        ),
        (
            "empty op",
            br#"{"id":4,"op":""}"#.to_vec(),
            Expect::Bad(Some(4), "unknown op"),
        ),
        // A variant name of the Rust enum is not an op name.
        (
            "Rust variant name",
            br#"{"id":4,"op":"ChatSend","text":"x"}"#.to_vec(),
            Expect::Bad(Some(4), "unknown op"),
        ),
        (
            "very long op name (≈1 MiB)",
            long_op.into_bytes(),
            Expect::Bad(Some(9), "unknown op"),
        ),
        (
            "very long multibyte op name",
            long_multibyte_op.into_bytes(),
            Expect::Bad(Some(9), "unknown op"),
        ),
        // --- duplicate keys: the last one wins, as serde_json reads them;
        // the server only ever looks at the parsed value, so no part of it
        // can see the other copy.
        (
            "duplicate id: last wins",
            br#"{"id":1,"id":2,"op":"online"}"#.to_vec(),
            Expect::Ok(2, "online"),
        ),
        (
            "duplicate op: last wins",
            br#"{"id":1,"op":"create_event","op":"online"}"#.to_vec(),
            Expect::Ok(1, "online"),
        ),
        (
            "duplicate id, last one invalid",
            br#"{"id":1,"id":"x","op":"online"}"#.to_vec(),
            Expect::Bad(None, BAD_ID),
        ),
        // --- arguments
        (
            "quantity 2^32",
            br#"{"id":5,"op":"book","event_id":"1","quantity":4294967296}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "quantity 1e3",
            br#"{"id":5,"op":"book","event_id":"1","quantity":1e3}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "quantity null",
            br#"{"id":5,"op":"book","event_id":"1","quantity":null}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "event_id as a number",
            br#"{"id":5,"op":"book","event_id":1,"quantity":1}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "password null",
            br#"{"id":5,"op":"login","username":"bob","password":null}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "before_seq -1",
            br#"{"id":5,"op":"chat_history","before_seq":-1}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "text as an object",
            br#"{"id":5,"op":"chat_send","text":{"$gt":""}}"#.to_vec(),
            Expect::Bad(Some(5), BAD_ARGS),
        ),
        (
            "optional room null is accepted",
            br#"{"id":5,"op":"chat_send","room":null,"text":"hi"}"#.to_vec(),
            Expect::Ok(5, "chat_send"),
        ),
        (
            "unknown extra fields are ignored",
            br#"{"id":5,"op":"online","admin":true,"role":"admin"}"#.to_vec(),
            Expect::Ok(5, "online"),
        ),
        // --- nesting: serde_json's recursion limit (128) allows 127 levels in all
        (
            "100,000 '['",
            b"[".repeat(100_000),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "100,000 '[' closed",
            nested("[", "]", 100_000),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "100,000 '{\"a\":'",
            nested("{\"a\":", "}", 100_000),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "deep array inside a valid request",
            in_ignored_field(&nested("[", "]", 100_000)),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "nesting 128 levels (object + 127 arrays)",
            in_ignored_field(&nested("[", "]", 127)),
            Expect::Bad(None, NOT_JSON),
        ),
        (
            "nesting 127 levels (object + 126 arrays) is fine",
            in_ignored_field(&nested("[", "]", 126)),
            Expect::Ok(1, "online"),
        ),
    ];
    for (name, frame, expect) in &corpus {
        check(name, frame, expect);
    }
}

/// The recursion limit, not luck with the stack size, stops deep nesting:
/// parse 100,000 levels on a thread with a fixed 4 MiB stack. Recursing
/// 100,000 levels would need far more (unoptimised builds use KiBs per
/// level), while serde_json's 128-level limit fits with room to spare even
/// in a debug build (256 KiB did not: it overflowed in an unoptimised CI
/// build).
#[test]
fn deep_nesting_is_rejected_without_recursing_deeply() {
    let handle = std::thread::Builder::new()
        .stack_size(4 * 1024 * 1024)
        .spawn(|| {
            for frame in [
                b"[".repeat(100_000),
                nested("{\"a\":", "}", 100_000),
                in_ignored_field(&nested("[", "]", 100_000)),
            ] {
                let err = parse_request(&frame).expect_err("too deep");
                assert_eq!(err.error.code, ErrorCode::BadRequest);
                assert!(
                    err.error.message.contains("recursion limit"),
                    "{}",
                    err.error.message
                );
            }
        })
        .expect("spawn");
    handle.join().expect("no stack overflow, no panic");
}

#[test]
fn unknown_op_names_are_quoted_briefly() {
    let frame = format!(r#"{{"id":9,"op":"{}"}}"#, "é".repeat(100_000));
    let err = parse_request(frame.as_bytes()).expect_err("unknown op");
    // 64 characters of the name and an ellipsis, no more.
    assert_eq!(err.error.message.chars().filter(|c| *c == 'é').count(), 64);
    assert!(err.error.message.ends_with("…\""), "{}", err.error.message);
}

#[test]
fn duplicate_keys_give_the_last_value_to_the_op_arguments_too() {
    let request =
        parse_request(br#"{"id":1,"op":"book","event_id":"1","quantity":1,"quantity":7}"#)
            .expect("parse");
    assert_eq!(
        request.op,
        Op::Book(request::Book {
            event_id: "1".into(),
            quantity: 7,
            request_key: None
        })
    );
}

/// Frame headers from the corpus: what the decoder does with each.
#[test]
fn hostile_frame_headers() {
    let limit = u32::try_from(MAX_FRAME_LEN).expect("fits");
    for (name, header, too_large) in [
        ("u32::MAX", u32::MAX, true),
        ("limit + 1", limit + 1, true),
        ("2 GiB", 1 << 31, true),
        ("limit", limit, false),
        ("zero", 0, false),
    ] {
        let mut codec = frame_codec();
        let mut buffer = BytesMut::new();
        buffer.put_u32(header);
        match codec.decode(&mut buffer) {
            Err(err) => assert!(too_large && is_frame_too_large(&err), "{name}: {err:?}"),
            Ok(Some(frame)) => {
                assert_eq!(header, 0, "{name}");
                assert!(frame.is_empty(), "{name}");
                // An empty frame is a frame; its body is not a request.
                check(name, &frame, &Expect::Bad(None, NOT_JSON));
            }
            Ok(None) => assert!(!too_large, "{name}: waits for {header} bytes"),
        }
    }
}
