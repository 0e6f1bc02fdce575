//! Token buckets, as AWS throttles Fargate task launches: a bucket holds at
//! most `burst` tokens and gains `rate` a second; an action that needs more
//! tokens than the bucket holds is refused. Pure: the caller passes the
//! time, so the arithmetic is tested without waiting.

use std::time::Duration;

/// A bucket's shape: its size and its refill rate. A rate of 0 means no
/// limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub burst: f64,
    pub per_second: f64,
}

impl Quota {
    pub const UNLIMITED: Quota = Quota {
        burst: 0.0,
        per_second: 0.0,
    };

    /// `BURST:RATE` (`100:20`), `RATE` (burst = rate), or `0`/`off` for no
    /// limit.
    pub fn parse(s: &str) -> Result<Quota, String> {
        let bad =
            || format!("'{s}' is not a quota: give BURST:RATE (for example 100:20), RATE, or off");
        if s == "off" {
            return Ok(Quota::UNLIMITED);
        }
        let (burst, rate) = s.split_once(':').unwrap_or((s, s));
        let burst: f64 = burst.trim().parse().map_err(|_| bad())?;
        let rate: f64 = rate.trim().parse().map_err(|_| bad())?;
        if !(burst.is_finite() && rate.is_finite()) || burst < 0.0 || rate < 0.0 {
            return Err(bad());
        }
        if rate == 0.0 {
            return Ok(Quota::UNLIMITED);
        }
        if burst < 1.0 {
            return Err(format!("'{s}': the burst must allow at least one token"));
        }
        Ok(Quota {
            burst,
            per_second: rate,
        })
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_second == 0.0
    }
}

/// One bucket. `at` is the time of the last refill, on any monotonic clock
/// the caller keeps (a `Duration` since some start).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    quota: Quota,
    tokens: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(quota: Quota, now: Duration) -> TokenBucket {
        TokenBucket {
            quota,
            tokens: quota.burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.quota.per_second).min(self.quota.burst);
        self.at = self.at.max(now);
    }

    /// Whether `n` tokens are there now (without taking them).
    pub fn has(&mut self, n: f64, now: Duration) -> bool {
        if self.quota.is_unlimited() {
            return true;
        }
        self.refill(now);
        self.tokens >= n
    }

    /// Takes `n` tokens if the bucket holds them.
    pub fn take(&mut self, n: f64, now: Duration) -> bool {
        if !self.has(n, now) {
            return false;
        }
        if !self.quota.is_unlimited() {
            self.tokens -= n;
        }
        true
    }

    /// Gives back tokens taken for an action that then failed.
    pub fn give_back(&mut self, n: f64) {
        if !self.quota.is_unlimited() {
            self.tokens = (self.tokens + n).min(self.quota.burst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quotas_parse() {
        let check = |s: &str, want: Result<(f64, f64), ()>| {
            let got = Quota::parse(s)
                .map(|q| (q.burst, q.per_second))
                .map_err(|_| ());
            assert_eq!(got, want, "{s}");
        };
        check("100:20", Ok((100.0, 20.0)));
        check("20", Ok((20.0, 20.0)));
        check("off", Ok((0.0, 0.0)));
        check("0", Ok((0.0, 0.0)));
        check("5:0", Ok((0.0, 0.0)));
        check("0:5", Err(()));
        check("a:b", Err(()));
        check("-1:2", Err(()));
        check("inf", Err(()));
        check("", Err(()));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let q = Quota::parse("100:20").unwrap();
        let mut b = TokenBucket::new(q, ms(0));
        // (time ms, tokens asked, allowed)
        let steps = [
            (0, 10.0, true),
            (0, 90.0, true),
            (0, 1.0, false),
            (49, 1.0, false),
            (50, 1.0, true),
            (100, 1.0, true),
            (100, 1.0, false),
            // A long pause refills to the burst, no further.
            (60_000, 100.0, true),
            (60_000, 1.0, false),
            // Time going backwards takes nothing away.
            (59_000, 0.5, false),
        ];
        for (at, n, want) in steps {
            assert_eq!(b.take(n, ms(at)), want, "at {at} ms, {n} tokens");
        }
        b.give_back(1.0);
        assert!(b.take(1.0, ms(60_000)));
    }

    #[test]
    fn an_unlimited_bucket_never_refuses() {
        let mut b = TokenBucket::new(Quota::UNLIMITED, ms(0));
        for _ in 0..10_000 {
            assert!(b.take(10.0, ms(0)));
        }
    }
}
