//! Potential-based shaping leaves optimal policies alone; progress used as the reward does not.
//! Checked by exact value iteration on small random tabular MDPs with terminal states.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use striatum_rl::shaping::{StepEnd, shaped_reward};

const GAMMA: f64 = 0.9;

/// A finite MDP: `p[s][a][s']`, `r[s][a][s']`, and which states are terminal.
struct Mdp {
    p: Vec<Vec<Vec<f64>>>,
    r: Vec<Vec<Vec<f64>>>,
    terminal: Vec<bool>,
}

impl Mdp {
    fn random(rng: &mut StdRng, states: usize, actions: usize) -> Mdp {
        let terminal: Vec<bool> = (0..states)
            .map(|s| s == 0 || rng.random_bool(0.15))
            .collect();
        let p = (0..states)
            .map(|_| {
                (0..actions)
                    .map(|_| {
                        // Sparse transitions: each action reaches 1-3 states.
                        let mut row = vec![0.0; states];
                        for _ in 0..rng.random_range(1..=3) {
                            row[rng.random_range(0..states)] += rng.random_range(0.1..1.0);
                        }
                        let sum: f64 = row.iter().sum();
                        row.iter().map(|x| x / sum).collect()
                    })
                    .collect()
            })
            .collect();
        let r = (0..states)
            .map(|_| {
                (0..actions)
                    .map(|_| (0..states).map(|_| rng.random_range(-1.0..1.0)).collect())
                    .collect()
            })
            .collect();
        Mdp { p, r, terminal }
    }

    /// Optimal Q by value iteration with the per-transition reward `reward(s, a, s')`.
    fn q_star(&self, reward: impl Fn(usize, usize, usize) -> f64) -> Vec<Vec<f64>> {
        let n = self.p.len();
        let mut v = vec![0.0; n];
        let mut q = vec![vec![0.0; self.p[0].len()]; n];
        for _ in 0..2000 {
            for (s, qs) in q.iter_mut().enumerate() {
                if self.terminal[s] {
                    continue;
                }
                for (a, qa) in qs.iter_mut().enumerate() {
                    *qa = (0..n)
                        .map(|t| {
                            let boot = if self.terminal[t] { 0.0 } else { GAMMA * v[t] };
                            self.p[s][a][t] * (reward(s, a, t) + boot)
                        })
                        .sum();
                }
            }
            let next: Vec<f64> = (0..n)
                .map(|s| {
                    if self.terminal[s] {
                        0.0
                    } else {
                        q[s].iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                    }
                })
                .collect();
            let delta = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            v = next;
            if delta < 1e-12 {
                break;
            }
        }
        q
    }

    /// The shaped reward of a transition under potential `phi` (terminal states get 0).
    fn shaped(&self, phi: &[f64], s: usize, a: usize, t: usize) -> f64 {
        let end = if self.terminal[t] {
            StepEnd::Terminal
        } else {
            StepEnd::Continue
        };
        shaped_reward(self.r[s][a][t], phi[s], phi[t], end, 1.0, GAMMA)
    }
}

/// The greedy action in every non-terminal state whose best action wins by a clear margin.
fn greedy(q: &[Vec<f64>], terminal: &[bool]) -> Vec<Option<usize>> {
    q.iter()
        .zip(terminal)
        .map(|(qs, &term)| {
            if term {
                return None;
            }
            let mut order: Vec<usize> = (0..qs.len()).collect();
            order.sort_by(|&a, &b| qs[b].total_cmp(&qs[a]));
            (qs[order[0]] - qs[order[1]] > 1e-6).then_some(order[0])
        })
        .collect()
}

#[test]
fn shaping_with_arbitrary_potentials_keeps_the_optimal_policy() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut compared = 0;
    for _ in 0..200 {
        let mdp = Mdp::random(&mut rng, 10, 3);
        let base = mdp.q_star(|s, a, t| mdp.r[s][a][t]);
        // Any potential, even a large and wild one, shifts Q(s, .) by -Phi(s) only.
        let scale = rng.random_range(0.1..20.0);
        let phi: Vec<f64> = (0..10).map(|_| rng.random_range(-scale..scale)).collect();
        let shaped = mdp.q_star(|s, a, t| mdp.shaped(&phi, s, a, t));
        for s in 0..10 {
            if mdp.terminal[s] {
                continue;
            }
            for a in 0..3 {
                assert!(
                    (shaped[s][a] - (base[s][a] - phi[s])).abs() < 1e-6,
                    "Q'(s, a) = Q(s, a) - Phi(s) at s {s} a {a}"
                );
            }
        }
        let (g, gs) = (greedy(&base, &mdp.terminal), greedy(&shaped, &mdp.terminal));
        for (a, b) in g.iter().zip(&gs) {
            if let (Some(a), Some(b)) = (a, b) {
                assert_eq!(a, b);
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "enough states compared ({compared})");
}

#[test]
fn progress_used_as_the_reward_changes_the_optimal_policy() {
    // A chain 0 -> 1 -> 2 -> goal(3, terminal). In 2 the agent may finish (task reward 1) or
    // loiter in 2. Progress is s / 3: paid as a reward it makes loitering near the goal worth
    // 2/3 per step forever (6.7 at gamma 0.9) against 1 for finishing.
    let n = 4;
    let mut p = vec![vec![vec![0.0; n]; 2]; n];
    let mut r = vec![vec![vec![0.0; n]; 2]; n];
    for s in 0..3 {
        p[s][0][s + 1] = 1.0; // advance
        p[s][1][s] = 1.0; // stay
    }
    r[2][0][3] = 1.0;
    let mdp = Mdp {
        p,
        r,
        terminal: vec![false, false, false, true],
    };
    let progress = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0];
    let task = greedy(&mdp.q_star(|s, a, t| mdp.r[s][a][t]), &mdp.terminal);
    let direct = greedy(
        &mdp.q_star(|s, a, t| mdp.r[s][a][t] + progress[t]),
        &mdp.terminal,
    );
    let shaped = greedy(
        &mdp.q_star(|s, a, t| mdp.shaped(&progress, s, a, t)),
        &mdp.terminal,
    );
    assert_eq!(task[2], Some(0), "the task's optimum finishes");
    assert_eq!(
        direct[2],
        Some(1),
        "progress as reward loiters short of the goal"
    );
    assert_eq!(
        shaped, task,
        "shaping with progress as the potential keeps the optimum"
    );

    // On random MDPs too, progress paid directly changes the optimal action somewhere.
    let mut rng = StdRng::seed_from_u64(11);
    let mut changed = 0;
    for _ in 0..100 {
        let mdp = Mdp::random(&mut rng, 10, 3);
        let phi: Vec<f64> = (0..10).map(|_| rng.random_range(0.0..1.0)).collect();
        let g = greedy(&mdp.q_star(|s, a, t| mdp.r[s][a][t]), &mdp.terminal);
        let d = greedy(
            &mdp.q_star(|s, a, t| mdp.r[s][a][t] + phi[t]),
            &mdp.terminal,
        );
        if g.iter()
            .zip(&d)
            .any(|(a, b)| a.is_some() && b.is_some() && a != b)
        {
            changed += 1;
        }
    }
    assert!(
        changed >= 20,
        "progress as reward changed the optimum in {changed} of 100 MDPs"
    );
}
