//! Delta temporality: what each series' last successful export sent, so the next one
//! sends the change.
//!
//! An export reads every series' totals, subtracts what was sent, and keeps the new
//! totals pending. Only when the collector accepts the request do they become what was
//! sent ([`Deltas::commit`]); when it fails, the old ones stay ([`Deltas::abandon`]), and
//! the next export's changes include the lost interval. A series whose start moved (a
//! native histogram that reset) or whose totals went down starts over from its start.
//!
//! Memory: one entry per series that was exported, its family and label list as keys
//! (their length) plus its totals: 8 bytes for a counter, 8 per bucket and the sum for a
//! classic histogram, 12 per non-empty native bucket; about 100 bytes of map and entry
//! overhead besides. Cumulative temporality keeps nothing.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use foldhash::fast::RandomState;
use hashbrown::{Equivalent, HashMap};

use crate::contract::native::NativeLayout;
use crate::store::cells::native::NativeSnapshot;

/// A series: its family's name and its rendered label list.
#[derive(PartialEq, Eq)]
struct Key(Box<str>, Box<str>);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Query(&self.0, &self.1).hash(state);
    }
}

/// A series looked up without allocating its key.
#[derive(Hash)]
struct Query<'a>(&'a str, &'a str);

impl Equivalent<Key> for Query<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *self.0 == *key.0 && *self.1 == *key.1
    }
}

/// A series' totals as read by one export.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Totals {
    /// A counter of the contract.
    Int(u64),
    /// A counter of the user's registry.
    Float(f64),
    /// A classic histogram's cells: bucket counts (not cumulative), then the sum in
    /// nanoseconds.
    Cells(Box<[u64]>),
    /// A user histogram: bucket counts (not cumulative), the count, then the sum.
    Floats(Box<[f64]>),
    /// A native histogram and its sum in billionths (nanoseconds for durations).
    Native(Box<(NativeSnapshot, i128)>),
}

impl Totals {
    pub(crate) fn native(snapshot: &NativeSnapshot, sum: i128) -> Self {
        Totals::Native(Box::new((snapshot.clone(), sum)))
    }
}

struct Sent {
    /// The series' start when it was sent.
    start: u64,
    /// When it was sent: the start of the next change.
    at: u64,
    totals: Totals,
}

/// What was sent, and what the export under way would send.
#[derive(Default)]
pub(crate) struct Deltas {
    sent: HashMap<Key, Sent, RandomState>,
    /// Each series of the export under way: its key, what was sent before, its totals now.
    pending: Vec<(Key, Option<Sent>, Sent)>,
}

impl Deltas {
    /// Notes a series' totals `now` for the export under way; the returned
    /// [`Previous`] subtracts what was sent.
    pub(crate) fn key(
        &mut self,
        family: &str,
        labels: &str,
        start: u64,
        now: u64,
        totals: Totals,
    ) -> Previous<'_> {
        let (key, old) = match self.sent.remove_entry(&Query(family, labels)) {
            Some((key, old)) => (key, Some(old)),
            None => (Key(family.into(), labels.into()), None),
        };
        let new = Sent {
            start,
            at: now,
            totals,
        };
        self.pending.push((key, old, new));
        let (_, old, _) = self.pending.last().expect("just pushed");
        match old {
            // The same run of the series: the change since it was sent.
            Some(old) if old.start == start => Previous {
                start: old.at,
                totals: Some(&old.totals),
            },
            // New, or restarted: everything since its start.
            _ => Previous {
                start,
                totals: None,
            },
        }
    }

    /// The collector took the export: its totals are what was sent.
    pub(crate) fn commit(&mut self) {
        for (key, _, new) in self.pending.drain(..) {
            self.sent.insert(key, new);
        }
    }

    /// The export failed: what was sent before still stands, and the next export sends
    /// the change since then.
    pub(crate) fn abandon(&mut self) {
        for (key, old, _) in self.pending.drain(..) {
            if let Some(old) = old {
                self.sent.insert(key, old);
            }
        }
    }

    /// Series remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sent.len()
    }
}

/// What was sent of one series, to subtract.
pub(crate) struct Previous<'a> {
    /// The start of the change.
    start: u64,
    totals: Option<&'a Totals>,
}

impl Previous<'_> {
    /// A counter's change; a counter that went down restarted.
    pub(crate) fn int(self, start: u64, n: u64) -> (u64, u64) {
        match self.totals {
            Some(&Totals::Int(sent)) if sent <= n => (self.start, n - sent),
            _ => (start, n),
        }
    }

    pub(crate) fn float(self, start: u64, v: f64) -> (u64, f64) {
        match self.totals {
            Some(&Totals::Float(sent)) if sent <= v => (self.start, v - sent),
            _ => (start, v),
        }
    }

    /// A classic histogram's change, cell by cell.
    pub(crate) fn cells<'c>(self, start: u64, cells: &'c [u64]) -> (u64, Cow<'c, [u64]>) {
        match self.totals {
            Some(Totals::Cells(sent))
                if sent.len() == cells.len() && sent.iter().zip(cells).all(|(s, c)| s <= c) =>
            {
                let change = cells.iter().zip(sent.iter()).map(|(c, s)| c - s).collect();
                (self.start, Cow::Owned(change))
            }
            _ => (start, Cow::Borrowed(cells)),
        }
    }

    /// A user histogram's change.
    pub(crate) fn floats(self, start: u64, values: &[f64]) -> (u64, Vec<f64>) {
        match self.totals {
            Some(Totals::Floats(sent))
                if sent.len() == values.len() && sent.iter().zip(values).all(|(s, v)| s <= v) =>
            {
                let change = values.iter().zip(sent.iter()).map(|(v, s)| v - s).collect();
                (self.start, change)
            }
            _ => (start, values.to_vec()),
        }
    }

    /// A native histogram's change. What was sent is brought to the current schema and
    /// zero bucket first (both only ever coarsen within a run). The count and sum are
    /// exact; should a bucket have shrunk, which no recording does, it sends nothing and
    /// the zero bucket takes up the difference, so the count still adds up.
    pub(crate) fn native<'n>(
        self,
        start: u64,
        now: &'n NativeSnapshot,
        sum: i128,
    ) -> (u64, Cow<'n, NativeSnapshot>, i128) {
        let Some(Totals::Native(sent)) = self.totals else {
            return (start, Cow::Owned(now.clone()), sum);
        };
        let (sent, sent_sum) = (&sent.0, sent.1);
        let count = |s: &NativeSnapshot| s.zero_count + s.buckets.iter().map(|b| b.1).sum::<u64>();
        let (total, sent_total) = (count(now), count(sent));
        if sent.schema < now.schema
            || sent.zero_threshold > now.zero_threshold
            || sent_total > total
        {
            return (start, Cow::Owned(now.clone()), sum);
        }
        // What was sent, at the current schema, with the current zero bucket.
        let halvings = (sent.schema - now.schema) as u32;
        let mut moved: Vec<(i32, u64)> = Vec::with_capacity(sent.buckets.len());
        for &(index, n) in &sent.buckets {
            if NativeLayout::upper_bound(sent.schema, index) <= now.zero_threshold {
                continue; // in the zero bucket now, whose count comes from the totals
            }
            // Prometheus' bucket i is OTLP's i - 1, whose halving is a floor shift.
            let index = ((index - 1) >> halvings) + 1;
            match moved.last_mut() {
                Some(last) if last.0 == index => last.1 += n,
                _ => moved.push((index, n)),
            }
        }
        let mut change = NativeSnapshot::default();
        change.schema = now.schema;
        change.zero_threshold = now.zero_threshold;
        let mut sent_buckets = moved.iter().peekable();
        for &(index, n) in &now.buckets {
            while sent_buckets.next_if(|b| b.0 < index).is_some() {}
            let before = sent_buckets.next_if(|b| b.0 == index).map_or(0, |b| b.1);
            let d = n.saturating_sub(before);
            if d > 0 {
                change.buckets.push((index, d));
            }
        }
        let placed: u64 = change.buckets.iter().map(|b| b.1).sum();
        change.zero_count = (total - sent_total).saturating_sub(placed);
        (self.start, Cow::Owned(change), sum - sent_sum)
    }
}
