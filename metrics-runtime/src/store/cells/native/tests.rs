//! One stripe's native buckets: placement, windows, halvings, the widened zero bucket.

use super::*;
use crate::contract::native::{NativeHistogram, NativeLayout};

fn layout(schema: i8, max: u32) -> NativeLayout {
    NativeLayout::new(&NativeHistogram::default().schema(schema).max_buckets(max)).unwrap()
}

/// The cells of one stripe's native part, and the layout it records by.
struct Stripe {
    mem: Box<[AtomicU64]>,
    layout: NativeLayout,
}

impl Stripe {
    fn new(layout: &NativeLayout) -> Self {
        let span = layout.max_buckets();
        let mem: Box<[AtomicU64]> = (0..cells_for(span)).map(|_| AtomicU64::new(0)).collect();
        NativeCells::at(&mem, span).init(layout.coarse());
        Stripe {
            mem,
            layout: layout.clone(),
        }
    }

    fn cells(&self) -> NativeCells<'_> {
        NativeCells::at(&self.mem, self.layout.max_buckets())
    }

    fn observe(&self, nanos: u64) {
        self.cells()
            .observe(self.layout.fine_index(nanos), self.layout.limits());
    }

    fn chunks(&self) -> usize {
        self.mem[HEADER..]
            .iter()
            .filter(|a| a.load(Ordering::Relaxed) != 0)
            .count()
    }
}

impl Drop for Stripe {
    fn drop(&mut self) {
        // SAFETY: the cells are being dropped with `self`.
        unsafe { NativeCells::at(&self.mem, self.layout.max_buckets()).free() };
    }
}

fn snapshot(layout: &NativeLayout, stripes: &[&Stripe]) -> NativeSnapshot {
    let mut out = NativeSnapshot::default();
    for s in stripes {
        s.cells().stage(&mut out);
        out.commit();
    }
    out.finish(layout);
    out
}

#[test]
fn observations_land_in_their_buckets() {
    let l = layout(3, 160);
    let s = Stripe::new(&l);
    for nanos in [0, 1_000_000_000, 1_000_000_000, 1_500_000_000, 3_000_000] {
        s.observe(nanos);
    }
    let snap = snapshot(&l, &[&s]);
    assert_eq!(snap.schema, 3);
    assert_eq!(snap.zero_count, 1);
    assert_eq!(snap.buckets, vec![(-67, 1), (0, 2), (5, 1)]);
    assert_eq!(snap.count(), 5);
}

#[test]
fn negative_schemas_start_halved() {
    // Schema -2: 3 ms is ceil(log2(0.003) / 4) = -2; 1.5 s is 1.
    let l = layout(-2, 16);
    let s = Stripe::new(&l);
    s.observe(3_000_000);
    s.observe(1_500_000_000);
    let snap = snapshot(&l, &[&s]);
    assert_eq!((snap.schema, snap.buckets), (-2, vec![(-2, 1), (1, 1)]));
}

#[test]
fn lines_are_allocated_as_used() {
    let l = layout(3, 160);
    let s = Stripe::new(&l);
    assert_eq!(s.chunks(), 0);
    // 1 ms to 1.9 ms: eight buckets at schema 3, in one or two lines.
    for us in (1000..1900).step_by(50) {
        s.observe(us * 1000);
    }
    assert!(s.chunks() <= 2, "{}", s.chunks());
    // Over twenty powers of two the window fills: at most ten lines.
    for octave in 0..20 {
        s.observe(1000 << octave);
    }
    assert!(s.chunks() <= 10);
    assert_eq!(snapshot(&l, &[&s]).count(), 38);
}

#[test]
fn too_wide_a_spread_halves_the_resolution() {
    // 16 buckets of schema 3 are two powers of two; 1 ms and 1 s are ten apart.
    let l = layout(3, 16);
    let s = Stripe::new(&l);
    s.observe(1_000_000);
    s.observe(1_000_000_000);
    let snap = snapshot(&l, &[&s]);
    // Schema 0 spans -9..=0 (10 buckets); schema 1 would span 20 > 16.
    assert_eq!(snap.schema, 0);
    assert_eq!(snap.buckets, vec![(-9, 1), (0, 1)]);
    // Later observations keep the lower schema.
    s.observe(1_500_000_000);
    let snap = snapshot(&l, &[&s]);
    assert_eq!(
        (snap.schema, snap.buckets),
        (0, vec![(-9, 1), (0, 1), (1, 1)])
    );
}

#[test]
fn the_window_moves_when_the_buckets_fit() {
    let l = layout(3, 16);
    let s = Stripe::new(&l);
    s.observe(1_000_000);
    // A power of two higher is eight buckets up, past the centred window's end.
    for _ in 0..3 {
        s.observe(2_000_000 + 1);
    }
    let snap = snapshot(&l, &[&s]);
    assert_eq!(snap.schema, 3);
    assert_eq!(snap.buckets, vec![(-79, 1), (-71, 3)]);
}

#[test]
fn stripes_at_different_schemas_sum_at_the_coarsest() {
    let l = layout(3, 16);
    let (a, b) = (Stripe::new(&l), Stripe::new(&l));
    a.observe(1_000_000);
    a.observe(1_000_000_000); // a drops to schema 0
    b.observe(1_000_000_000);
    b.observe(1_100_000_000); // b stays at 3: buckets 0 and 2
    let snap = snapshot(&l, &[&a, &b]);
    assert_eq!(snap.schema, 0);
    assert_eq!(snap.buckets, vec![(-9, 1), (0, 2), (1, 1)]);
}

#[test]
fn extremes_stay_within_the_lowest_schema() {
    let l = layout(-4, 8);
    let s = Stripe::new(&l);
    s.observe(1);
    s.observe(u64::MAX);
    let snap = snapshot(&l, &[&s]);
    assert_eq!(snap.schema, -4);
    assert_eq!(snap.count(), 2);
}

/// Schema 0 (bucket i holds (2^(i-1), 2^i] s), eight buckets, and a zero bucket that
/// may widen up to 1 ms: over fine index -10 (2^-10 s ≈ 0.98 ms) at most.
fn widening() -> NativeLayout {
    let settings = NativeHistogram::default()
        .schema(0)
        .max_buckets(8)
        .max_zero_threshold(0.001);
    NativeLayout::new(&settings).unwrap()
}

#[test]
fn the_zero_bucket_widens_before_the_schema_drops() {
    let l = widening();
    let s = Stripe::new(&l);
    for nanos in [1_000, 100_000, 1_000_000_000, 2_000_000_000, 4_000_000_000] {
        s.observe(nanos); // indexes -19, -13, 0, 1, 2
    }
    // -19 to 2 do not fit in eight: the two lowest join the zero bucket instead.
    let r = snapshot(&l, &[&s]);
    assert_eq!((r.schema, r.zero_count), (0, 2));
    assert_eq!(r.buckets, [(0, 1), (1, 1), (2, 1)]);
    assert_eq!(r.zero_threshold, 2f64.powi(-13));
    // At or below the widened threshold, an observation is a zero one.
    s.observe(50_000); // index -14
    s.observe(500_000); // index -10: widens again, to the limit
    let r = snapshot(&l, &[&s]);
    assert_eq!((r.schema, r.zero_count), (0, 4));
    assert_eq!(r.zero_threshold, 2f64.powi(-10));
    // Past the limit the schema drops, and the zero bucket stays as it is.
    s.observe(1_953_125); // 2^-9 s: index -9
    let r = snapshot(&l, &[&s]);
    assert_eq!((r.schema, r.zero_count, r.count()), (-1, 4, 8));
    assert_eq!(r.buckets, [(-4, 1), (0, 1), (1, 2)]);
    assert_eq!(r.zero_threshold, 2f64.powi(-10));
}

#[test]
fn the_widest_zero_bucket_among_stripes_takes_what_lies_wholly_inside_it() {
    let l = widening();
    let (a, b) = (Stripe::new(&l), Stripe::new(&l));
    for nanos in [100_000, 1_000_000_000, 2_000_000_000] {
        a.observe(nanos); // -13 joins a's zero bucket: -13 to 1 spans 15
    }
    b.observe(50_000); // -14: within a's zero bucket, but a bucket of b's own
    b.observe(200_000); // -12: above it
    let r = snapshot(&l, &[&a, &b]);
    // Together they span -12 to 1, so the sum halves once (to schema -1); b's -14
    // (now -7, up to -14) lies inside the zero bucket, its -12 (now -6) does not.
    assert_eq!((r.schema, r.zero_count), (-1, 2));
    assert_eq!(r.buckets, [(-6, 1), (0, 1), (1, 1)]);
    assert_eq!(r.zero_threshold, 2f64.powi(-13));
}
