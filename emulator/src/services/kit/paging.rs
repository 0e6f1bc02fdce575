//! Paging for list operations: one opaque token format and one slice. The
//! token is an offset into the sorted list the operation pages over,
//! base64 of `fl1:<offset>`, so a client cannot mistake it for anything
//! else. A service gives its limits in a [`Paging`] and maps
//! [`PageError`] to its own error and message.

use base64::Engine;

/// The limits of one operation's `maxResults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Page size when the request gives none.
    pub default: usize,
    /// The smallest `maxResults` accepted.
    pub min: usize,
    /// The largest `maxResults` accepted.
    pub max: usize,
}

impl Paging {
    /// `maxResults` from 1 to `max`, `max` by default.
    pub const fn up_to(max: usize) -> Paging {
        Paging {
            default: max,
            min: 1,
            max,
        }
    }

    /// The same limits with another default page size.
    pub const fn default_size(self, default: usize) -> Paging {
        Paging { default, ..self }
    }
}

/// Why a page could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the next token is not one this emulator issued")]
    InvalidToken,
    #[error("maxResults {value} is outside {min}..={max}")]
    MaxResults { value: i64, min: usize, max: usize },
}

/// One page and the token of the next, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// The token for the page starting at `offset`.
pub fn token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("fl1:{offset}"))
}

/// The offset a token stands for; `None` when it is not one of ours.
pub fn parse_token(token: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("fl1:")?.parse().ok()
}

impl Paging {
    /// The page size for `max_results`, checked against the limits.
    pub fn size(&self, max_results: Option<i64>) -> Result<usize, PageError> {
        match max_results {
            None => Ok(self.default),
            Some(v) if v >= self.min as i64 && v <= self.max as i64 => Ok(v as usize),
            Some(value) => Err(PageError::MaxResults {
                value,
                min: self.min,
                max: self.max,
            }),
        }
    }

    /// Where a page starts: 0 without a token (an empty token is none, as
    /// the CLI sends one), else the token's offset.
    pub fn start(&self, token: Option<&str>) -> Result<usize, PageError> {
        match token.filter(|t| !t.is_empty()) {
            None => Ok(0),
            Some(t) => parse_token(t).ok_or(PageError::InvalidToken),
        }
    }

    /// The page of `items` (already filtered and sorted) that `token` and
    /// `max_results` select. The size is checked before the token, as AWS
    /// validates members before it reads the token.
    pub fn page<T: Clone>(
        &self,
        items: &[T],
        token: Option<&str>,
        max_results: Option<i64>,
    ) -> Result<Page<T>, PageError> {
        let size = self.size(max_results)?;
        let start = self.start(token)?;
        Ok(slice(items, start, size))
    }
}

/// `size` items from `start`, and the next token when more remain.
pub fn slice<T: Clone>(items: &[T], start: usize, size: usize) -> Page<T> {
    let end = start.saturating_add(size).min(items.len());
    let page: Vec<T> = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    Page {
        next_token: (end < items.len()).then(|| token(end)),
        items: page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<i32> = (0..25).collect();
        for size in [1, 7, 10, 25, 100] {
            let paging = Paging::up_to(100);
            let mut token: Option<String> = None;
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let p = paging
                    .page(&items, token.as_deref(), Some(size as i64))
                    .unwrap();
                pages += 1;
                seen.extend(p.items);
                match p.next_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            assert_eq!(seen, items, "size {size}");
            assert_eq!(pages, items.len().div_ceil(size).max(1), "size {size}");
        }
    }

    fn check(token: Option<&str>, max: Option<i64>, want: Result<(Vec<i32>, bool), PageError>) {
        let items = [1, 2, 3];
        let paging = Paging::up_to(2).default_size(1);
        let got = paging
            .page(&items, token, max)
            .map(|p| (p.items, p.next_token.is_some()));
        assert_eq!(got, want, "{token:?} {max:?}");
    }

    #[test]
    fn limits_and_tokens() {
        check(None, None, Ok((vec![1], true)));
        check(Some(""), None, Ok((vec![1], true)));
        check(None, Some(2), Ok((vec![1, 2], true)));
        check(Some(&token(2)), Some(2), Ok((vec![3], false)));
        check(Some(&token(3)), None, Ok((vec![], false)));
        check(Some(&token(99)), None, Ok((vec![], false)));
        check(
            None,
            Some(0),
            Err(PageError::MaxResults {
                value: 0,
                min: 1,
                max: 2,
            }),
        );
        check(
            None,
            Some(3),
            Err(PageError::MaxResults {
                value: 3,
                min: 1,
                max: 2,
            }),
        );
        check(Some("garbage"), None, Err(PageError::InvalidToken));
        check(Some("5"), None, Err(PageError::InvalidToken));
        // The size is checked first.
        check(
            Some("garbage"),
            Some(9),
            Err(PageError::MaxResults {
                value: 9,
                min: 1,
                max: 2,
            }),
        );
    }
}
