//! The MD5s SQS answers with, which several SDKs (Ruby, Java, Go) recompute
//! and fail the call on a mismatch: `MD5OfMessageBody` over the body's
//! bytes, and `MD5OfMessageAttributes` / `MD5OfMessageSystemAttributes` over
//! AWS's encoding of the attributes (sorted by name; each one's name, data
//! type, a 1 for a string or 2 for a binary value, and the value, every part
//! but the marker preceded by its length as a big-endian u32).

use md5::{Digest, Md5};

use super::model::MessageAttributeValue;

/// Hex MD5 of the body's UTF-8 bytes.
pub fn body(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// Hex MD5 of a set of message attributes, `None` when there are none.
/// `attrs` must be sorted by name (a `BTreeMap`'s order is byte order, as
/// AWS sorts). A binary value is its bytes after base64 decoding; one that
/// does not decode has been refused before this is reached.
pub fn attributes<'a>(
    attrs: impl IntoIterator<Item = (&'a String, &'a MessageAttributeValue)>,
) -> Option<String> {
    fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    let mut any = false;
    for (name, v) in attrs {
        any = true;
        put(&mut buf, name.as_bytes());
        put(&mut buf, v.data_type.as_bytes());
        match (&v.string_value, &v.binary_value) {
            (Some(s), _) => {
                buf.push(1);
                put(&mut buf, s.as_bytes());
            }
            (None, Some(b)) => {
                buf.push(2);
                put(&mut buf, &super::decode_binary(b).unwrap_or_default());
            }
            (None, None) => {}
        }
    }
    any.then(|| hex::encode(Md5::digest(&buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::collections::BTreeMap;

    fn s(data_type: &str, v: &str) -> MessageAttributeValue {
        MessageAttributeValue {
            data_type: data_type.into(),
            string_value: Some(v.into()),
            ..Default::default()
        }
    }

    fn check(attrs: &[(&str, MessageAttributeValue)], want: &str) {
        let map: BTreeMap<String, MessageAttributeValue> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(attributes(&map).as_deref(), Some(want), "{attrs:?}");
    }

    /// The vectors recorded from AWS (reference §5.1).
    #[test]
    fn aws_test_vectors() {
        assert_eq!(body("test"), "098f6bcd4621d373cade4e832627b4f6");
        check(
            &[("MyAttribute", s("String", "foobar"))],
            "adb59cd4678ea5a855436b949cd07ab6",
        );
        check(
            &[("Foo", s("String", "Bar"))],
            "ae7155c6026991b6d54b11589678bf9c",
        );
        check(
            &[("timestamp", s("Number", "1493147359900"))],
            "235c5c510d26fb653d073faed50ae77c",
        );
        let all = [
            ("General", s("String", "Kenobi")),
            ("Hello", s("String", "There")),
            ("Help.Me", s("String", "Me")),
        ];
        check(&all, "4c360f3fdafd970e05fae2f149d997f5");
        check(&all[..2], "fca026605781cb4126a1e9044df24232");
        check(&all[1..2], "a311262e065454b75da111d535b8dacd");
        check(&all[1..], "83fee93c1bcd8b9a5a923ffacdc636c7");
        let bin =
            MessageAttributeValue {
                data_type: "Binary".into(),
                binary_value: Some(base64::engine::general_purpose::STANDARD.encode(
                    b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01",
                )),
                ..Default::default()
            };
        check(&[("attr1", bin)], "8cbe4db156db8a94db8b801b7addb984");
        check(
            &[(
                "AWSTraceHeader",
                s(
                    "String",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                ),
            )],
            "5ae4d5d7636402d80f4eb6d213245a88",
        );
        check(
            &[(
                "shoryuken_class",
                s("String", "Shoryuken::ActiveJob::JobWrapper"),
            )],
            "39c447f8a199530fa7a472c945edcd37",
        );
        assert_eq!(attributes(&BTreeMap::new()), None);
    }
}
