// A Rust program for `vmemu run`: std collections, strings and spawned threads, each thread
// with the 8 KiB alternate signal stack Rust's runtime gives it, and a channel between them.
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread;

fn main() {
    let (sender, receiver) = mpsc::channel();
    let workers: Vec<_> = (0..3u64)
        .map(|worker| {
            let sender = sender.clone();
            thread::spawn(move || {
                let mut values: Vec<u64> = (0..400_000).map(|i| i * (worker + 3) % 1_000_003).collect();
                values.sort_unstable();
                let sum: u64 = values.iter().step_by(7).sum();
                sender.send((worker, sum)).unwrap();
                values.len()
            })
        })
        .collect();
    drop(sender);
    let mut words = HashMap::new();
    for i in 0..150_000u64 {
        words.insert(i, format!("word-{}-{}", i % 977, i * 31));
    }
    let mut lengths = BTreeMap::new();
    for (_, word) in words.iter() {
        *lengths.entry(word.len()).or_insert(0u64) += 1;
    }
    let mut sums: Vec<(u64, u64)> = receiver.iter().collect();
    sums.sort();
    let lengths_total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    println!("lengths {:?}", lengths);
    println!("sums {:?} of {} values", sums, lengths_total);
}
