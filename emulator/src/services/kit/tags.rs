//! Tags: one pure merge for every service. [`merge`] validates the tags
//! being added and the count the resource would end with, and only then
//! builds the new list; the caller stores it and swaps it in, so a refused
//! TagResource changes nothing. Each service keeps its own tag type (ECS's
//! optional value, Logs' map) through [`TagPair`], gives its limits in a
//! [`TagRules`], and maps [`TagError`] to its own error and message.

/// A key and a value, whatever a service's tag type looks like.
pub trait TagPair: Clone {
    fn key(&self) -> &str;
    fn value(&self) -> &str;
}

impl TagPair for (String, String) {
    fn key(&self) -> &str {
        &self.0
    }
    fn value(&self) -> &str {
        &self.1
    }
}

/// One service's tag limits. Lengths count characters, as AWS does.
#[derive(Debug, Clone, Copy)]
pub struct TagRules {
    pub max_tags: usize,
    pub max_key_chars: usize,
    pub max_value_chars: usize,
    /// Keys users may not add or remove (`aws:`, compared ignoring case).
    pub reserved_prefix: Option<&'static str>,
    /// The characters keys and values may hold; `None` allows any.
    pub allowed_char: Option<fn(char) -> bool>,
    /// Whether the same key twice in one request is refused.
    pub refuse_duplicates: bool,
}

/// AWS's usual limits: 50 tags, keys of 1 to 128 characters, values up to
/// 256, `aws:` reserved.
pub const AWS: TagRules = TagRules {
    max_tags: 50,
    max_key_chars: 128,
    max_value_chars: 256,
    reserved_prefix: Some("aws:"),
    allowed_char: None,
    refuse_duplicates: false,
};

/// Why tags were refused. Each variant carries what a message names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("a resource can have at most {limit} tags ({count} asked for)")]
    TooMany { limit: usize, count: usize },
    #[error("tag key '{key}' is empty or longer than the limit")]
    KeyLength { key: String },
    #[error("the value of tag '{key}' is longer than the limit")]
    ValueLength { key: String, value: String },
    #[error("tag key '{key}' holds a character that is not allowed")]
    KeyChars { key: String },
    #[error("the value of tag '{key}' holds a character that is not allowed")]
    ValueChars { key: String, value: String },
    #[error("tag key '{key}' begins with a reserved prefix")]
    Reserved { key: String },
    #[error("tag key '{key}' is given twice")]
    Duplicate { key: String },
}

fn reserved(rules: &TagRules, key: &str) -> bool {
    rules.reserved_prefix.is_some_and(|p| {
        key.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// Checks tags a request adds, one by one, before anything is merged.
pub fn validate<T: TagPair>(add: &[T], rules: &TagRules) -> Result<(), TagError> {
    if add.len() > rules.max_tags {
        return Err(TagError::TooMany {
            limit: rules.max_tags,
            count: add.len(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for t in add {
        let (key, value) = (t.key(), t.value());
        let chars = key.chars().count();
        if chars == 0 || chars > rules.max_key_chars {
            return Err(TagError::KeyLength { key: key.into() });
        }
        if value.chars().count() > rules.max_value_chars {
            return Err(TagError::ValueLength {
                key: key.into(),
                value: value.into(),
            });
        }
        if let Some(ok) = rules.allowed_char {
            if !key.chars().all(ok) {
                return Err(TagError::KeyChars { key: key.into() });
            }
            if !value.chars().all(ok) {
                return Err(TagError::ValueChars {
                    key: key.into(),
                    value: value.into(),
                });
            }
        }
        if reserved(rules, key) {
            return Err(TagError::Reserved { key: key.into() });
        }
        if rules.refuse_duplicates && !seen.insert(key) {
            return Err(TagError::Duplicate { key: key.into() });
        }
    }
    Ok(())
}

/// The tags a resource has after `add`: a key already there takes the new
/// value in its place, a new key goes at the end. Nothing is built unless
/// every added tag is valid and the result is within the limit.
pub fn merge<T: TagPair>(existing: &[T], add: &[T], rules: &TagRules) -> Result<Vec<T>, TagError> {
    validate(add, rules)?;
    let mut out = existing.to_vec();
    for t in add {
        match out.iter_mut().find(|x| x.key() == t.key()) {
            Some(x) => *x = t.clone(),
            None => out.push(t.clone()),
        }
    }
    if out.len() > rules.max_tags {
        return Err(TagError::TooMany {
            limit: rules.max_tags,
            count: out.len(),
        });
    }
    Ok(out)
}

/// The tags left after removing `keys` (keys that are not there are
/// ignored, as AWS ignores them). With a reserved prefix, removing such a
/// key is refused.
pub fn remove<T: TagPair, K: AsRef<str>>(
    existing: &[T],
    keys: &[K],
    rules: &TagRules,
) -> Result<Vec<T>, TagError> {
    if let Some(k) = keys.iter().find(|k| reserved(rules, k.as_ref())) {
        return Err(TagError::Reserved {
            key: k.as_ref().into(),
        });
    }
    Ok(existing
        .iter()
        .filter(|t| !keys.iter().any(|k| k.as_ref() == t.key()))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn many(prefix: &str, n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("{prefix}{i}"), "v".into()))
            .collect()
    }

    fn check(existing: &[(String, String)], add: &[(String, String)], want: Result<usize, &str>) {
        let got = merge(existing, add, &AWS);
        match (got, want) {
            (Ok(out), Ok(n)) => assert_eq!(out.len(), n),
            (Err(e), Err(name)) => assert!(format!("{e:?}").starts_with(name), "{e:?} vs {name}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn merging_validates_before_building() {
        check(&many("a", 45), &many("b", 5), Ok(50));
        // 45 + 10 is over the limit: refused, whatever the request alone.
        check(&many("a", 45), &many("b", 10), Err("TooMany"));
        // Replacing keys does not add to the count.
        check(&many("a", 50), &many("a", 50), Ok(50));
        check(&[], &tags(&[("", "v")]), Err("KeyLength"));
        check(&[], &tags(&[(&"k".repeat(129), "v")]), Err("KeyLength"));
        check(&[], &tags(&[("k", &"v".repeat(257))]), Err("ValueLength"));
        check(&[], &tags(&[("AWS:x", "v")]), Err("Reserved"));
        check(&[], &many("b", 51), Err("TooMany"));
        // Characters, not bytes.
        check(&[], &tags(&[(&"é".repeat(128), "v")]), Ok(1));
    }

    #[test]
    fn a_new_value_replaces_the_old_in_place() {
        let out = merge(
            &tags(&[("a", "1"), ("b", "2")]),
            &tags(&[("a", "9"), ("c", "3")]),
            &AWS,
        )
        .unwrap();
        assert_eq!(out, tags(&[("a", "9"), ("b", "2"), ("c", "3")]));
    }

    #[test]
    fn removing_ignores_absent_keys_and_refuses_reserved_ones() {
        let existing = tags(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            remove(&existing, &["a", "zz"], &AWS).unwrap(),
            tags(&[("b", "2")])
        );
        assert!(matches!(
            remove(&existing, &["aws:x"], &AWS),
            Err(TagError::Reserved { .. })
        ));
    }

    #[test]
    fn optional_rules() {
        let strict = TagRules {
            allowed_char: Some(|c| c.is_ascii_alphanumeric()),
            refuse_duplicates: true,
            ..AWS
        };
        assert!(matches!(
            validate(&tags(&[("a b", "v")]), &strict),
            Err(TagError::KeyChars { .. })
        ));
        assert!(matches!(
            validate(&tags(&[("a", "v w")]), &strict),
            Err(TagError::ValueChars { .. })
        ));
        assert!(matches!(
            validate(&tags(&[("a", "1"), ("a", "2")]), &strict),
            Err(TagError::Duplicate { .. })
        ));
        assert!(validate(&tags(&[("a", "1"), ("a", "2")]), &AWS).is_ok());
    }
}
