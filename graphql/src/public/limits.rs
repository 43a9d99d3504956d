//! What one visitor may take of the public listener: requests per source ([`RateLimiter`], a
//! bounded table of token buckets) and connections per source and in all ([`ConnectionSlots`]).
//!
//! Both are plain data behind a mutex; the rate limiter takes the time as an argument
//! (milliseconds of a monotonic clock), so its tests are exact.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Requests one source may make in a burst: a bucket starts full with this many tokens. A person
/// who scans a QR code loads one page; one who checks a stack of printed bills, or uploads a few
/// files and goes back and forth, makes a few dozen requests in a minute. Sixty lets that through
/// at once while a script that enumerates or floods runs dry within its first second.
pub const REQUESTS_PER_SOURCE_BURST: u64 = 60;

/// Requests per minute one source may make once its burst is spent: one a second, the pace of a
/// person checking documents one by one (a bank's desk behind one address included), three
/// orders of magnitude below what the node can serve, so a few hundred sources at this pace
/// cannot crowd it.
pub const REQUESTS_PER_SOURCE_PER_MINUTE: u64 = 60;

/// Sources whose buckets are kept. A bucket is a few dozen bytes, so the table stays under a
/// megabyte however many addresses a flood comes from. When it is full, buckets that have
/// refilled completely (indistinguishable from a new one) are dropped; if none has, a new
/// source shares [`RateLimiter`]'s one overflow bucket with every other untracked source, so a
/// flood from many addresses gets one source's allowance in all and cannot evict the buckets of
/// the sources already tracked.
pub const RATE_SOURCES_MAX: usize = 4096;

/// Connections the public listener serves at once. Each holds a socket, TLS state and a task; a
/// verification is one page load, so a few hundred visitors at the same moment is far beyond
/// what a consortium's printed documents bring, and a connection beyond it is closed at once.
pub const PUBLIC_CONNECTIONS_MAX: usize = 256;

/// Connections one source may hold at once. Browsers open at most six to one host; sixteen
/// leaves room for a few people behind one address, and keeps one address from taking more than
/// a sixteenth of [`PUBLIC_CONNECTIONS_MAX`].
pub const PUBLIC_CONNECTIONS_PER_SOURCE_MAX: usize = 16;

/// Milli-tokens per token: buckets count in thousandths so that refilling needs no floats.
const MILLI: u64 = 1000;

/// The address a limit counts under: an IPv4 address (an IPv4-mapped IPv6 address as its IPv4
/// form), or the /64 network of an IPv6 address, since one host is commonly given a whole /64
/// and could otherwise take a fresh allowance from each of its addresses.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// One source's tokens.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Thousandths of a request still allowed.
    milli_tokens: u64,
    /// When `milli_tokens` was last brought up to date.
    at_ms: u64,
}

impl Bucket {
    fn full(now_ms: u64) -> Bucket {
        Bucket {
            milli_tokens: REQUESTS_PER_SOURCE_BURST * MILLI,
            at_ms: now_ms,
        }
    }

    /// Adds what the time since `at_ms` earned, up to the burst.
    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        // `REQUESTS_PER_SOURCE_PER_MINUTE` tokens a minute are that many milli-tokens every
        // 60 ms.
        let earned = elapsed.saturating_mul(REQUESTS_PER_SOURCE_PER_MINUTE) / 60;
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(earned)
            .min(REQUESTS_PER_SOURCE_BURST * MILLI);
        self.at_ms = now_ms.max(self.at_ms);
    }

    fn is_full(&self) -> bool {
        self.milli_tokens >= REQUESTS_PER_SOURCE_BURST * MILLI
    }

    /// Takes one request's token, or says in how many whole seconds one will be there.
    fn take(&mut self, now_ms: u64) -> Result<(), RetryAfter> {
        self.refill(now_ms);
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            return Ok(());
        }
        let missing = MILLI - self.milli_tokens;
        // Milliseconds until `missing` milli-tokens are earned, rounded up to whole seconds.
        let wait_ms = (missing * 60).div_ceil(REQUESTS_PER_SOURCE_PER_MINUTE);
        Err(RetryAfter {
            seconds: wait_ms.div_ceil(1000).max(1),
        })
    }
}

/// A refused request: when the source may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// Whole seconds, for the `Retry-After` header.
    pub seconds: u64,
}

/// Token buckets by source, at most [`RATE_SOURCES_MAX`] of them plus one overflow bucket.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<IpAddr, Bucket>,
    /// The bucket every source shares that found the table full.
    overflow: Bucket,
}

impl RateLimiter {
    pub fn new(now_ms: u64) -> RateLimiter {
        RateLimiter {
            buckets: HashMap::new(),
            overflow: Bucket::full(now_ms),
        }
    }

    /// Takes a token for one request from `ip` at `now_ms` (a monotonic clock), or refuses it.
    pub fn check(&mut self, ip: IpAddr, now_ms: u64) -> Result<(), RetryAfter> {
        let source = source_of(ip);
        if let Some(bucket) = self.buckets.get_mut(&source) {
            return bucket.take(now_ms);
        }
        if self.buckets.len() >= RATE_SOURCES_MAX {
            // A full bucket holds nothing a new one would not: forget those.
            self.buckets.retain(|_, b| {
                b.refill(now_ms);
                !b.is_full()
            });
        }
        if self.buckets.len() >= RATE_SOURCES_MAX {
            return self.overflow.take(now_ms);
        }
        let mut bucket = Bucket::full(now_ms);
        let taken = bucket.take(now_ms);
        self.buckets.insert(source, bucket);
        taken
    }

    /// How many sources have a bucket of their own.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// Why a new connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Crowded {
    #[error("its source already holds {PUBLIC_CONNECTIONS_PER_SOURCE_MAX} connections")]
    Source,
    #[error("{PUBLIC_CONNECTIONS_MAX} connections are already open")]
    Connections,
}

#[derive(Debug, Default)]
struct SlotCounts {
    all: usize,
    /// By source ([`source_of`]); no entry at zero, so the map holds at most
    /// [`PUBLIC_CONNECTIONS_MAX`] entries.
    by_source: HashMap<IpAddr, usize>,
}

/// The listener's connection slots: [`PUBLIC_CONNECTIONS_MAX`] in all,
/// [`PUBLIC_CONNECTIONS_PER_SOURCE_MAX`] per source.
#[derive(Debug, Default)]
pub struct ConnectionSlots {
    counts: Mutex<SlotCounts>,
}

impl ConnectionSlots {
    fn counts(&self) -> std::sync::MutexGuard<'_, SlotCounts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection from `ip`, held until the [`Slot`] drops.
    pub fn admit(self: &Arc<ConnectionSlots>, ip: IpAddr) -> Result<Slot, Crowded> {
        let source = source_of(ip);
        let mut counts = self.counts();
        if counts.by_source.get(&source).copied().unwrap_or(0) >= PUBLIC_CONNECTIONS_PER_SOURCE_MAX
        {
            return Err(Crowded::Source);
        }
        if counts.all >= PUBLIC_CONNECTIONS_MAX {
            return Err(Crowded::Connections);
        }
        counts.all += 1;
        *counts.by_source.entry(source).or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            source,
        })
    }

    /// Connections holding a slot now.
    pub fn open(&self) -> usize {
        self.counts().all
    }
}

/// One connection's slot, released when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        counts.all = counts.all.saturating_sub(1);
        if let Some(n) = counts.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn a_source_gets_its_burst_then_one_request_a_second() {
        let mut limiter = RateLimiter::new(0);
        for i in 0..REQUESTS_PER_SOURCE_BURST {
            assert_eq!(limiter.check(v4(1), 0), Ok(()), "request {i}");
        }
        assert_eq!(limiter.check(v4(1), 0), Err(RetryAfter { seconds: 1 }));
        // Another source is not affected.
        assert_eq!(limiter.check(v4(2), 0), Ok(()));
        // 999 ms earn 0.999 tokens: not yet.
        assert_eq!(limiter.check(v4(1), 999), Err(RetryAfter { seconds: 1 }));
        assert_eq!(limiter.check(v4(1), 1000), Ok(()));
        assert!(limiter.check(v4(1), 1000).is_err());
        // Ten seconds earn ten requests, no more.
        for _ in 0..10 {
            assert_eq!(limiter.check(v4(1), 11_000), Ok(()));
        }
        assert!(limiter.check(v4(1), 11_000).is_err());
        // A long pause refills the burst, never beyond it.
        for _ in 0..REQUESTS_PER_SOURCE_BURST {
            assert_eq!(limiter.check(v4(1), 10_000_000), Ok(()));
        }
        assert!(limiter.check(v4(1), 10_000_000).is_err());
    }

    #[test]
    fn ipv6_sources_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(other));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(source_of(mapped), v4(7));
        assert_eq!(
            source_of(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "::".parse::<IpAddr>().unwrap()
        );

        let mut limiter = RateLimiter::new(0);
        for _ in 0..REQUESTS_PER_SOURCE_BURST {
            limiter.check(a, 0).unwrap();
        }
        assert!(limiter.check(b, 0).is_err(), "the same /64");
        assert!(limiter.check(other, 0).is_ok());
    }

    #[test]
    fn a_full_table_drops_refilled_buckets_then_shares_one_overflow_bucket() {
        let mut limiter = RateLimiter::new(0);
        let ip = |i: usize| IpAddr::V6(Ipv6Addr::from((i as u128) << 64));
        for i in 0..RATE_SOURCES_MAX {
            limiter.check(ip(i), 0).unwrap();
        }
        assert_eq!(limiter.tracked(), RATE_SOURCES_MAX);
        // Nobody has refilled yet: new sources share the overflow bucket, and the tracked
        // sources keep theirs.
        for j in 0..REQUESTS_PER_SOURCE_BURST as usize {
            assert_eq!(limiter.check(ip(RATE_SOURCES_MAX + j), 0), Ok(()));
        }
        assert!(limiter.check(ip(RATE_SOURCES_MAX * 2), 0).is_err());
        assert_eq!(limiter.tracked(), RATE_SOURCES_MAX);
        assert_eq!(limiter.check(ip(0), 0), Ok(()));
        // A second later every tracked bucket is full again: a new source evicts them and gets
        // a bucket of its own.
        assert_eq!(limiter.check(ip(RATE_SOURCES_MAX * 3), 2_000), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn slots_bound_connections_per_source_and_in_all() {
        let slots = Arc::new(ConnectionSlots::default());
        let mine: Vec<Slot> = (0..PUBLIC_CONNECTIONS_PER_SOURCE_MAX)
            .map(|_| slots.admit(v4(1)).unwrap())
            .collect();
        assert_eq!(slots.admit(v4(1)).unwrap_err(), Crowded::Source);
        let mut others = Vec::new();
        for source in 2..=255u8 {
            for _ in 0..PUBLIC_CONNECTIONS_PER_SOURCE_MAX {
                if slots.open() < PUBLIC_CONNECTIONS_MAX {
                    others.push(slots.admit(v4(source)).unwrap());
                }
            }
        }
        assert_eq!(slots.open(), PUBLIC_CONNECTIONS_MAX);
        assert_eq!(slots.admit(v4(250)).unwrap_err(), Crowded::Connections);
        drop(mine);
        assert_eq!(
            slots.open(),
            PUBLIC_CONNECTIONS_MAX - PUBLIC_CONNECTIONS_PER_SOURCE_MAX
        );
        let again = slots.admit(v4(1)).unwrap();
        drop(again);
        drop(others);
        assert_eq!(slots.open(), 0);
        assert!(slots.counts().by_source.is_empty());
    }
}
