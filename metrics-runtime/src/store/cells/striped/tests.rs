//! A series' stripes: sums across writers, contention, native buckets read whole, resets.

use super::*;

#[test]
fn writes_from_many_threads_sum_up() {
    let cells = StripedCells::new(3);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let cells = &cells;
            s.spawn(move || {
                for _ in 0..1000 {
                    cells.write(|w| {
                        w.add(0, 1);
                        w.add(2, t);
                    });
                }
            });
        }
    });
    let mut out = [0u64; 3];
    cells.read(&mut out);
    assert_eq!(out, [4000, 0, 6000]);
}

/// Three threads record 20,000 spread durations each (up to 5 s) into `cells` while a
/// fourth reads: every read must see the native and classic counts agree, and no more
/// than was recorded. Returns the final read.
fn spread_while_reading(cells: &StripedCells, layout: &NativeLayout) -> ([u64; 1], NativeSnapshot) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..3u64)
            .map(|t| {
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let nanos = (i * 7919 + t) % 5_000_000_000;
                        let index = layout.fine_index(nanos);
                        cells.write(|w| {
                            w.native(index);
                            w.add(0, 1);
                        });
                    }
                })
            })
            .collect();
        let done = &done;
        let reader = s.spawn(move || {
            let (mut out, mut snapshot) = ([0u64; 1], NativeSnapshot::default());
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                cells.read_with(&mut out, Some((layout, &mut snapshot)));
                assert_eq!(snapshot.count(), out[0], "native and classic counts agree");
                assert!(out[0] <= 60_000);
                reads += 1;
            }
            reads
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    let (mut out, mut snapshot) = ([0u64; 1], NativeSnapshot::default());
    cells.read_with(&mut out, Some((layout, &mut snapshot)));
    (out, snapshot)
}

#[test]
fn native_buckets_are_read_with_the_cells_they_go_with() {
    use crate::contract::native::NativeHistogram;
    // Sixteen buckets, so that spreading durations move and halve the windows
    // while the reader reads.
    let layout = NativeLayout::new(&NativeHistogram::default().max_buckets(16)).unwrap();
    let cells = StripedCells::with_native(1, Some(&layout));
    let (out, snapshot) = spread_while_reading(&cells, &layout);
    assert_eq!((out[0], snapshot.count()), (60_000, 60_000));
    let span = snapshot.buckets.last().unwrap().0 - snapshot.buckets[0].0;
    assert!(span < 16, "{snapshot:?}");
}

#[test]
fn resets_under_concurrent_writers_keep_every_read_whole() {
    use crate::contract::native::NativeHistogram;
    // Resets as often as every 50 µs while three threads spread durations widely
    // and a fourth reads: each read sees one epoch's stripes, whole.
    let settings = NativeHistogram::default()
        .max_buckets(16)
        .max_zero_threshold(0.000_01)
        .min_reset_duration(std::time::Duration::from_micros(50));
    let layout = NativeLayout::new(&settings).unwrap();
    let cells = StripedCells::with_native(1, Some(&layout));
    let (out, snapshot) = spread_while_reading(&cells, &layout);
    assert!(cells.last_reset().is_some(), "the spread reset the series");
    assert_eq!(snapshot.count(), out[0]);
    assert!(
        out[0] < 60_000,
        "a reset dropped earlier counts: {}",
        out[0]
    );
}

#[test]
fn wrapping_deltas_read_as_signed_sums() {
    let cells = StripedCells::new(1);
    cells.write(|w| w.add(0, 1u64.wrapping_neg()));
    let mut out = [0u64; 1];
    cells.read(&mut out);
    assert_eq!(out[0] as i64, -1);
}

#[test]
fn a_series_costs_a_stripe_per_writing_lease_up_to_the_lanes() {
    // 3 statuses + 13 buckets + sum = 17 cells + sequence = 18 u64: three 64-byte
    // lines per stripe.
    let cells = StripedCells::new(17);
    assert_eq!(cells.heap_bytes(), 192);
    let leases = lease::capacity().min(10);
    for lease in 0..leases {
        cells.write_in(cells.own_as(lease::id_of(lease)), true, |w| w.add(0, 1));
        // The first leases claim the lanes (their home ones, here); the others write
        // the shared stripe.
        let id = lease::id_of(lease);
        assert_eq!(cells.owners.find(id), (lease < LANES).then_some(lease));
        assert_eq!(cells.owners.at_home(id), (lease < LANES).then_some(lease));
        assert_eq!(cells.heap_bytes(), (2 + lease.min(LANES - 1)) * 192);
    }
    let mut out = [0u64; 17];
    cells.read(&mut out);
    assert_eq!(out[0], leases as u64);
}

#[test]
fn a_contended_series_gives_every_lease_a_stripe() {
    let cells = StripedCells::new(2);
    for _ in 0..CONTENDED {
        cells.contended();
    }
    let slots = lease::capacity() * std::mem::size_of::<OnceLock<Stripe>>();
    assert_eq!(cells.heap_bytes(), slots + 64);
    // Leases without a lane now write stripes of their own.
    for lease in 0..lease::capacity() {
        for _ in 0..=lease {
            cells.write_in(cells.own_as(lease::id_of(lease)), true, |w| {
                w.add(0, 1);
                w.add(1, 10);
            });
        }
        assert!(cells.own_as(lease::id_of(lease)).is_some());
        // Counting on does not allocate again.
        cells.contended();
        assert_eq!(cells.heap_bytes(), slots + 64 * (lease + 2));
    }
    let n = lease::capacity() as u64;
    let mut out = [0u64; 2];
    cells.read(&mut out);
    assert_eq!(out, [n * (n + 1) / 2, 10 * n * (n + 1) / 2]);
}

/// A schema-0 layout of eight buckets that resets rather than halving.
fn resetting() -> NativeLayout {
    use crate::contract::native::NativeHistogram;
    let settings = NativeHistogram::default()
        .schema(0)
        .max_buckets(8)
        .min_reset_duration(std::time::Duration::from_nanos(1));
    NativeLayout::new(&settings).unwrap()
}

fn observe(cells: &StripedCells, own: Option<&Stripe>, layout: &NativeLayout, nanos: u64) {
    cells.write_in(own, true, |w| {
        w.native(layout.fine_index(nanos));
        w.add(0, 1);
    });
}

fn read(cells: &StripedCells, layout: &NativeLayout) -> (u64, NativeSnapshot) {
    let mut out = [0u64; 1];
    let mut snapshot = NativeSnapshot::default();
    cells.read_with(&mut out, Some((layout, &mut snapshot)));
    (out[0], snapshot)
}

#[test]
fn a_series_due_a_reset_restarts_instead_of_halving() {
    let layout = resetting();
    let cells = StripedCells::with_native(1, Some(&layout));
    assert_eq!(cells.last_reset(), None);
    observe(&cells, None, &layout, 1_000); // index -19
    observe(&cells, None, &layout, 2_000); // -18
    std::thread::sleep(std::time::Duration::from_millis(1));
    // Index 0 and -19 do not fit in eight buckets: the series restarts, its count
    // with it, at the fine schema, this observation its first.
    observe(&cells, None, &layout, 1_000_000_000);
    let (count, native) = read(&cells, &layout);
    assert_eq!((count, native.count(), native.schema), (1, 1, 0));
    assert_eq!(native.buckets, [(0, 1)]);
    assert!(cells.last_reset().is_some());
}

#[test]
fn a_reset_drops_the_other_stripes_until_their_writers_catch_up() {
    let layout = resetting();
    let cells = StripedCells::with_native(1, Some(&layout));
    let (a, b) = (lease::id_of(0), lease::id_of(1));
    observe(&cells, cells.own_as(a), &layout, 1_000);
    observe(&cells, cells.own_as(a), &layout, 2_000);
    observe(&cells, cells.own_as(b), &layout, 1_000_000_000);
    assert_eq!(read(&cells, &layout).0, 3);
    std::thread::sleep(std::time::Duration::from_millis(1));
    // b overflows (-19 and 0) and resets the series: a's two are gone with it.
    observe(&cells, cells.own_as(b), &layout, 1_000);
    let (count, native) = read(&cells, &layout);
    assert_eq!((count, native.count()), (1, 1));
    // a's next recording clears its stripe first, and counts from zero.
    observe(&cells, cells.own_as(a), &layout, 2_000);
    let (count, native) = read(&cells, &layout);
    assert_eq!((count, native.count()), (2, 2));
    assert_eq!(native.buckets, [(-19, 1), (-18, 1)]);
}
