//! Property tests with hostile input for the frame decoder and the request
//! parser (issue 5, "Hostile input"): whatever the bytes, nothing panics and
//! every failure is the documented error.
//!
//! Each property runs 2,000 generated cases (`CASES`), which keeps the whole
//! file at a few seconds in a debug build, so it runs in CI on every push.
//! Set `PROPTEST_CASES` to run more locally; failures are shrunk and saved
//! in `hostile_input.proptest-regressions` beside this file.

use bytes::{BufMut as _, Bytes, BytesMut};
use coliseum_protocol::codec::is_frame_too_large;
use coliseum_protocol::request::OP_NAMES;
use coliseum_protocol::{
    ErrorCode, MAX_FRAME_LEN, Op, Request, frame_codec, parse_request, request,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Number, Value};
use tokio_util::codec::Decoder as _;

/// Cases per property, unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 2_000;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig {
        cases,
        // Shrunk failures go to tests/hostile_input.proptest-regressions,
        // which is replayed first on the next run (commit it).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- framing

/// What the stream of bytes means under the protocol's framing rule
/// (4-byte big-endian length, body ≤ `MAX_FRAME_LEN`): the complete frames
/// in order, then either "waiting for more bytes" or "too large".
#[derive(Debug, PartialEq, Eq)]
struct Framing {
    frames: Vec<Vec<u8>>,
    too_large: bool,
}

fn reference_framing(mut bytes: &[u8]) -> Framing {
    let mut frames = Vec::new();
    while let Some((header, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*header) as usize;
        if len > MAX_FRAME_LEN {
            return Framing {
                frames,
                too_large: true,
            };
        }
        if rest.len() < len {
            break;
        }
        frames.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    Framing {
        frames,
        too_large: false,
    }
}

/// Feeds `bytes` to the real codec in chunks ending at `cuts`, decoding after
/// every chunk as a server does, and stops at the first error.
fn decode_in_chunks(bytes: &[u8], cuts: &[usize]) -> Framing {
    let mut codec = frame_codec();
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    ends.push(bytes.len());
    ends.sort_unstable();
    for end in ends {
        buffer.put_slice(&bytes[start..end]);
        start = end;
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) => break,
                Err(err) => {
                    assert!(is_frame_too_large(&err), "unexpected decode error {err:?}");
                    return Framing {
                        frames,
                        too_large: true,
                    };
                }
            }
        }
    }
    Framing {
        frames,
        too_large: false,
    }
}

/// A length header: small, around the limit, or anything.
fn header_value() -> impl Strategy<Value = u32> {
    let max = u32::try_from(MAX_FRAME_LEN).expect("limit fits u32");
    prop_oneof![
        4 => 0u32..64,
        1 => Just(max),
        1 => Just(max + 1),
        1 => Just(u32::MAX),
        1 => (max - 4)..=(max + 4),
        1 => any::<u32>(),
    ]
}

/// Byte streams that look like framed traffic: headers followed by bodies
/// that may be shorter or longer than announced, plus random junk.
fn framed_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        // A well-formed small frame.
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|body| {
            let mut out = u32::try_from(body.len())
                .expect("small")
                .to_be_bytes()
                .to_vec();
            out.extend(body);
            out
        }),
        // A header with any value and a body of unrelated length.
        (
            header_value(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(len, body)| {
                let mut out = len.to_be_bytes().to_vec();
                out.extend(body);
                out
            }),
        // Junk.
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn chunk_cuts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(any::<usize>(), 0..16)
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes in arbitrary chunks: the decoder never panics and
    /// yields exactly the frames the length prefixes announce, or stops with
    /// `frame_too_large`; how the bytes were split never matters.
    #[test]
    fn decoder_on_random_bytes_matches_the_framing_rule(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in chunk_cuts(),
    ) {
        prop_assert_eq!(decode_in_chunks(&bytes, &cuts), reference_framing(&bytes));
    }

    /// The same with streams shaped like real traffic, so that complete
    /// frames, short bodies and headers near the 1 MiB limit all occur.
    #[test]
    fn decoder_on_framed_streams_matches_the_framing_rule(
        bytes in framed_stream(),
        cuts in chunk_cuts(),
    ) {
        let got = decode_in_chunks(&bytes, &cuts);
        let want = reference_framing(&bytes);
        for frame in &got.frames {
            prop_assert!(frame.len() <= MAX_FRAME_LEN);
        }
        prop_assert_eq!(got, want);
    }

    /// A frame that is cut off at the end of the stream is neither yielded
    /// nor mistaken for `frame_too_large` by `decode_eof`. (A stream cut
    /// right after a header ends with `Ok(None)`, like a clean close:
    /// tokio-util has already consumed the header. Either way the peer is
    /// gone and nothing half-read is acted on.)
    #[test]
    fn truncated_final_frame_is_not_a_frame(
        body in proptest::collection::vec(any::<u8>(), 1..256),
        keep in any::<usize>(),
    ) {
        let mut bytes = u32::try_from(body.len()).expect("small").to_be_bytes().to_vec();
        bytes.extend(&body);
        let keep = keep % bytes.len(); // strictly shorter than the whole frame
        let mut buffer = BytesMut::from(&bytes[..keep]);
        let mut codec = frame_codec();
        match codec.decode_eof(&mut buffer) {
            Ok(None) => prop_assert!(keep == 0 || keep == 4, "kept {keep} bytes silently"),
            Ok(Some(frame)) => prop_assert!(false, "yielded a partial frame {frame:?}"),
            Err(err) => prop_assert!(!is_frame_too_large(&err), "{err:?}"),
        }
    }
}

// ---------------------------------------------------------------- parsing

/// Checks the one contract of `parse_request` on failure: `bad_request`,
/// and the id exactly when the frame is a JSON object with a u64 `id`.
fn assert_bad_request(frame: &[u8], id: Option<u64>) -> Result<(), TestCaseError> {
    match parse_request(frame) {
        Ok(request) => {
            prop_assert_eq!(Some(request.id), id, "parsed with another id");
        }
        Err(err) => {
            prop_assert_eq!(err.error.code, ErrorCode::BadRequest);
            prop_assert_eq!(err.id, id);
            prop_assert!(!err.error.message.is_empty());
            // Error messages quote at most a bounded part of the input.
            prop_assert!(
                err.error.message.len() <= 1_024,
                "message of {} bytes",
                err.error.message.len()
            );
        }
    }
    Ok(())
}

/// The id `parse_request` must report for this JSON value.
fn readable_id(value: &Value) -> Option<u64> {
    value.as_object()?.get("id")?.as_u64()
}

/// Every argument name any op takes, with the JSON type it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    U32,
    U64,
}

const FIELDS: &[(&str, Kind)] = &[
    ("username", Kind::Str),
    ("password", Kind::Str),
    ("email", Kind::Str),
    ("token", Kind::Str),
    ("current_password", Kind::Str),
    ("new_username", Kind::Str),
    ("new_password", Kind::Str),
    ("new_email", Kind::Str),
    ("name", Kind::Str),
    ("date", Kind::Str),
    ("location", Kind::Str),
    ("capacity", Kind::U32),
    ("max_per_user", Kind::U32),
    ("event_id", Kind::Str),
    ("quantity", Kind::U32),
    ("request_key", Kind::Str),
    ("ticket_id", Kind::Str),
    ("room", Kind::Str),
    ("text", Kind::Str),
    ("before_seq", Kind::U64),
    ("limit", Kind::U32),
    ("starts_at", Kind::Str),
    ("description", Kind::Str),
    ("reason", Kind::Str),
    ("offer_id", Kind::Str),
    ("code", Kind::Str),
];

fn kind_of(field: &str) -> Option<Kind> {
    FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, k)| *k)
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
        (0u64..1_000).prop_map(Value::from),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("id".to_owned()),
        3 => Just("op".to_owned()),
        4 => proptest::sample::select(FIELDS).prop_map(|(name, _)| name.to_owned()),
        2 => ".{0,12}",
    ]
}

/// Any JSON value, nested up to a few levels, biased towards objects with
/// the protocol's keys and op names so the parser's deeper paths are hit.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        ".{0,16}".prop_map(Value::String),
        proptest::sample::select(OP_NAMES).prop_map(|op| Value::String(op.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((json_key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object shaped like a request: an `id` that is usually valid, an
/// `op` that is usually a real op name, and arbitrary arguments.
fn request_like_object() -> impl Strategy<Value = Value> {
    let id = prop_oneof![
        4 => any::<u64>().prop_map(Value::from),
        1 => json_value(),
    ];
    let op = prop_oneof![
        4 => proptest::sample::select(OP_NAMES).prop_map(|op| Value::String(op.to_owned())),
        1 => json_value(),
    ];
    let args = proptest::collection::vec(
        (
            proptest::sample::select(FIELDS).prop_map(|(name, _)| name.to_owned()),
            json_value(),
        ),
        0..6,
    );
    (
        proptest::option::weighted(0.95, id),
        proptest::option::weighted(0.95, op),
        args,
    )
        .prop_map(|(id, op, args)| {
            let mut object: Map<String, Value> = args.into_iter().collect();
            if let Some(id) = id {
                object.insert("id".to_owned(), id);
            }
            if let Some(op) = op {
                object.insert("op".to_owned(), op);
            }
            Value::Object(object)
        })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,24}", "[a-z0-9_.-]{3,12}", Just(String::new())]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

/// Every `Op` variant with arbitrary field values (not necessarily passing
/// the validation rules: those are the server's business, not the parser's).
fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (text(), text(), text()).prop_map(|(username, password, email)| Op::Register(
            request::Register {
                username,
                password,
                email
            }
        )),
        (text(), text())
            .prop_map(|(username, password)| Op::Login(request::Login { username, password })),
        text().prop_map(|token| Op::Resume(request::Resume { token })),
        Just(Op::Logout(request::Logout {})),
        (text(), opt_text(), opt_text(), opt_text()).prop_map(
            |(current_password, new_username, new_password, new_email)| Op::UpdateAccount(
                request::UpdateAccount {
                    current_password,
                    new_username,
                    new_password,
                    new_email
                }
            )
        ),
        Just(Op::ListEvents(request::ListEvents {})),
        (
            text(),
            text(),
            text(),
            any::<u32>(),
            proptest::option::of(any::<u32>()),
            opt_text(),
            opt_text()
        )
            .prop_map(
                |(name, date, location, capacity, max_per_user, starts_at, description)| {
                    Op::CreateEvent(request::CreateEvent {
                        name,
                        date,
                        starts_at,
                        location,
                        description,
                        capacity,
                        max_per_user,
                    })
                }
            ),
        (text(), any::<u32>(), opt_text()).prop_map(|(event_id, quantity, request_key)| {
            Op::Book(request::Book {
                event_id,
                quantity,
                request_key,
            })
        }),
        Just(Op::MyTickets(request::MyTickets {})),
        (text(), proptest::option::of(any::<u32>())).prop_map(|(ticket_id, quantity)| {
            Op::CancelTicket(request::CancelTicket {
                ticket_id,
                quantity,
            })
        }),
        (opt_text(), text())
            .prop_map(|(room, text)| Op::ChatSend(request::ChatSend { room, text })),
        (
            opt_text(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u32>())
        )
            .prop_map(
                |(room, before_seq, limit)| Op::ChatHistory(request::ChatHistory {
                    room,
                    before_seq,
                    limit
                })
            ),
        Just(Op::Online(request::Online {})),
        (
            text(),
            opt_text(),
            opt_text(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(
                |(event_id, starts_at, description, capacity)| Op::UpdateEvent(
                    request::UpdateEvent {
                        event_id,
                        starts_at,
                        description,
                        capacity,
                        ..request::UpdateEvent::default()
                    }
                )
            ),
        (text(), text()).prop_map(|(event_id, reason)| Op::CancelEvent(request::CancelEvent {
            event_id,
            reason
        })),
        (text(), any::<u32>()).prop_map(|(event_id, quantity)| Op::WaitlistJoin(
            request::WaitlistJoin { event_id, quantity }
        )),
        text().prop_map(|offer_id| Op::OfferAccept(request::OfferAccept { offer_id })),
        text().prop_map(|code| Op::CheckIn(request::CheckIn { code })),
        Just(Op::ServerInfo(request::ServerInfo {})),
    ]
}

/// A value of the wrong JSON type for a field of `kind` (never `null`,
/// which optional fields accept).
fn wrong_value(kind: Kind) -> BoxedStrategy<Value> {
    let structural = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(json_number(), 0..3).prop_map(Value::Array),
        Just(Value::Object(Map::new())),
    ];
    match kind {
        Kind::Str => prop_oneof![structural, json_number()].boxed(),
        Kind::U32 => prop_oneof![
            structural,
            ".{0,8}".prop_map(Value::String),
            (u64::from(u32::MAX) + 1..=u64::MAX).prop_map(Value::from),
            (i64::MIN..0).prop_map(Value::from),
            fraction(),
        ]
        .boxed(),
        Kind::U64 => prop_oneof![
            structural,
            ".{0,8}".prop_map(Value::String),
            (i64::MIN..0).prop_map(Value::from),
            fraction(),
        ]
        .boxed(),
    }
}

/// A JSON number with a fraction or exponent, e.g. `2.5` or `3.0`:
/// never accepted where an integer is expected.
fn fraction() -> impl Strategy<Value = Value> {
    (-1.0e12f64..1.0e12)
        .prop_filter_map("finite", Number::from_f64)
        .prop_map(Value::Number)
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes: `parse_request` never panics; any error is
    /// `bad_request` (random bytes practically never form a request).
    #[test]
    fn parser_on_random_bytes_never_panics(
        frame in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let id = serde_json::from_slice::<Value>(&frame).ok().as_ref().and_then(readable_id);
        assert_bad_request(&frame, id)?;
    }

    /// Arbitrary JSON values: never a panic, errors are `bad_request`, and
    /// the id is reported exactly when the value is an object with a u64 `id`.
    #[test]
    fn parser_on_random_json_values_reports_bad_request_with_the_readable_id(
        value in json_value(),
    ) {
        let frame = serde_json::to_vec(&value).expect("serializable");
        assert_bad_request(&frame, readable_id(&value))?;
    }

    /// Request-shaped objects (real op names, real argument names, values
    /// of any type): the same contract, now through the argument checks.
    #[test]
    fn parser_on_request_shaped_objects_keeps_its_contract(
        value in request_like_object(),
    ) {
        let frame = serde_json::to_vec(&value).expect("serializable");
        assert_bad_request(&frame, readable_id(&value))?;
    }

    /// Every valid request survives serialize → parse unchanged, and only
    /// uses argument names the protocol defines.
    #[test]
    fn every_valid_op_round_trips(id in any::<u64>(), op in any_op()) {
        let request = Request { id, op };
        let frame = serde_json::to_vec(&request).expect("serializable");
        let value: Value = serde_json::from_slice(&frame).expect("json");
        for key in value.as_object().expect("object").keys() {
            prop_assert!(
                key == "id" || key == "op" || kind_of(key).is_some(),
                "unexpected key {key}"
            );
        }
        let parsed = parse_request(&frame).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(parsed, request);
    }

    /// A valid request with one argument replaced by a value of the wrong
    /// type is `bad_request` ("invalid arguments"), with its id kept.
    #[test]
    fn wrongly_typed_arguments_are_bad_request_with_the_id(
        (mut object, id, field, wrong) in request_with_a_wrongly_typed_field(),
    ) {
        object.insert(field.clone(), wrong.clone());
        let frame = serde_json::to_vec(&object).expect("serializable");
        match parse_request(&frame) {
            Ok(request) => prop_assert!(false, "{field} = {wrong} accepted: {request:?}"),
            Err(err) => {
                prop_assert_eq!(err.id, Some(id));
                prop_assert_eq!(err.error.code, ErrorCode::BadRequest);
                prop_assert!(
                    err.error.message.contains("invalid arguments"),
                    "{}",
                    err.error.message
                );
            }
        }
    }

    /// Frames cut out of a valid request's bytes (any prefix, any single
    /// byte flipped) never panic the parser and fail only with `bad_request`.
    #[test]
    fn mangled_valid_requests_never_panic(
        id in any::<u64>(),
        op in any_op(),
        cut in any::<prop::sample::Index>(),
        flip in any::<(prop::sample::Index, u8)>(),
    ) {
        let frame = serde_json::to_vec(&Request { id, op }).expect("serializable");
        let prefix = &frame[..cut.index(frame.len())];
        if let Err(err) = parse_request(prefix) {
            prop_assert_eq!(err.error.code, ErrorCode::BadRequest);
        }
        let mut flipped = frame.clone();
        let at = flip.0.index(flipped.len());
        flipped[at] ^= flip.1 | 1;
        if let Err(err) = parse_request(&flipped) {
            prop_assert_eq!(err.error.code, ErrorCode::BadRequest);
        }
        // And whole frames through the codec come back byte for byte.
        let mut codec = frame_codec();
        let mut buffer = BytesMut::new();
        tokio_util::codec::Encoder::encode(&mut codec, Bytes::from(frame.clone()), &mut buffer)
            .expect("encode");
        let decoded = codec.decode(&mut buffer).expect("decode").expect("whole frame");
        prop_assert_eq!(&decoded[..], &frame[..]);
    }
}

/// The argument names a serialized request carries.
fn argument_names(object: &Map<String, Value>) -> Vec<String> {
    object
        .keys()
        .filter(|k| *k != "id" && *k != "op")
        .cloned()
        .collect()
}

/// A valid request as a JSON object, its id, one of its argument names, and
/// a value of the wrong type for that argument.
fn request_with_a_wrongly_typed_field()
-> impl Strategy<Value = (Map<String, Value>, u64, String, Value)> {
    (any::<u64>(), any_op())
        .prop_filter_map("op with arguments", |(id, op)| {
            let Ok(Value::Object(object)) = serde_json::to_value(Request { id, op }) else {
                return None;
            };
            let names = argument_names(&object);
            (!names.is_empty()).then_some((object, id, names))
        })
        .prop_flat_map(|(object, id, names)| {
            (Just(object), Just(id), proptest::sample::select(names))
        })
        .prop_flat_map(|(object, id, field)| {
            let kind = kind_of(&field).unwrap_or(Kind::Str);
            (Just(object), Just(id), Just(field), wrong_value(kind))
        })
}
