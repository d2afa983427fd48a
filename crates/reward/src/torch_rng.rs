//! libtorch's random generator is one per process: a `tch::manual_seed` followed by layer
//! initialisations gives the seeded values only if no other thread draws from the generator
//! in between. Code that seeds and then builds networks, or builds networks whose initial
//! values are thrown away (a model about to load its weights), does so under [`seeded`], so
//! runs that start together in one process (the learning benchmark's parallel runs, a launch
//! file's nodes) stay reproducible.

use std::sync::{Mutex, MutexGuard};

static GENERATOR: Mutex<()> = Mutex::new(());

/// The process-wide generator lock, held until dropped: build networks while holding it.
#[must_use = "the generator is only reserved while the guard lives"]
pub struct SeededGenerator {
    _held: MutexGuard<'static, ()>,
}

/// Takes the process-wide generator lock, then seeds the generator with `seed` when one is
/// given.
pub fn lock(seed: Option<i64>) -> SeededGenerator {
    // A panic in another holder leaves nothing half-done that matters here: the generator
    // is re-seeded by the next seeded caller.
    let held = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(seed) = seed {
        tch::manual_seed(seed);
    }
    SeededGenerator { _held: held }
}

/// Runs `build` holding the generator lock, after seeding the generator with `seed` when one
/// is given.
pub fn seeded<T>(seed: Option<i64>, build: impl FnOnce() -> T) -> T {
    let _held = lock(seed);
    build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use tch::{Kind, Tensor};

    /// Seeds, then draws in many small pieces (as a network's layers are initialised one by
    /// one), after every thread has reached `start`.
    fn draw(seed: i64, start: &Barrier) -> Vec<f32> {
        start.wait();
        seeded(Some(seed), || {
            let mut v = Vec::new();
            for _ in 0..200 {
                let t = Tensor::rand([8], (Kind::Float, tch::Device::Cpu));
                v.extend(Vec::<f32>::try_from(&t).unwrap_or_default());
            }
            v
        })
    }

    /// Threads that seed and draw at the same time each get their seed's values.
    #[test]
    fn concurrent_seeded_draws_are_reproducible() {
        let alone: Vec<Vec<f32>> = (0..4).map(|k| draw(k, &Barrier::new(1))).collect();
        for _ in 0..10 {
            let start = Barrier::new(4);
            let together: Vec<Vec<f32>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..4)
                    .map(|k| {
                        let start = &start;
                        s.spawn(move || draw(k, start))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            });
            assert_eq!(together, alone);
        }
        assert_ne!(alone[0], alone[1]);
    }
}
