//! With the counting allocator installed, the live heap is measured and exposed.

mod common;

use std::alloc::System;
use std::time::Duration;

use keychain_metrics::alloc::{live_bytes, CountingAllocator};
use keychain_metrics::collector::ResourceCollector;
use keychain_metrics::Metrics;

#[global_allocator]
static ALLOCATOR: CountingAllocator<System> = CountingAllocator::new(System);

#[test]
fn live_bytes_follow_allocations() {
    let before = live_bytes().unwrap();
    let block = vec![1u8; 10 << 20];
    let during = live_bytes().unwrap();
    assert!(
        during >= before + (10 << 20) - (1 << 20),
        "{before} -> {during}"
    );
    drop(block);
    let after = live_bytes().unwrap();
    assert!(after + (9 << 20) < during, "{during} -> {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_exposes_the_live_heap() {
    let m = Metrics::new();
    let collector = ResourceCollector::new(m.clone())
        .interval(Duration::from_millis(20))
        .start()
        .unwrap();
    for _ in 0..500 {
        if common::value(&m.encode_text(), "keychain_memory_alloc_bytes", &[])
            .is_some_and(|b| b > 0.0)
        {
            collector.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no keychain_memory_alloc_bytes");
}
