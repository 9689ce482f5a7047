//! Detection metrics shared by the held-out test and the `eval` example. Not a stable API.

/// Area under the ROC curve: the probability that a random attack scores above a random
/// benign text (ties count one half). `None` if either class is empty.
pub fn auroc(scores: &[(f32, bool)]) -> Option<f64> {
    let mut sorted: Vec<(f32, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = sorted.iter().filter(|s| s.1).count();
    let neg = sorted.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Rank-sum (Mann-Whitney U) with average ranks for ties.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < sorted.len() {
        let Some(&(score, _)) = sorted.get(i) else {
            break;
        };
        let mut j = i;
        while sorted.get(j).is_some_and(|s| s.0 == score) {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let tied_pos = sorted
            .get(i..j)
            .map_or(0, |t| t.iter().filter(|s| s.1).count());
        rank_sum += avg_rank * tied_pos as f64;
        i = j;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// The lowest threshold whose false-positive rate is at most `max_fpr` (a text is flagged
/// when its score is `>=` the threshold), and the true-positive rate there.
pub fn tpr_at_fpr(scores: &[(f32, bool)], max_fpr: f64) -> (f32, f64) {
    let mut neg: Vec<f32> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    neg.sort_by(|a, b| b.total_cmp(a));
    // Allowed false positives; the threshold sits just above the next benign score.
    let allowed = (max_fpr * neg.len() as f64).floor() as usize;
    let threshold = match neg.get(allowed) {
        Some(&s) => next_up(s),
        None => 0.0,
    };
    (threshold, rate(scores, true, threshold))
}

/// Share of texts with the given label whose score is `>= threshold`.
pub fn rate(scores: &[(f32, bool)], label: bool, threshold: f32) -> f64 {
    let of_label: Vec<f32> = scores
        .iter()
        .filter(|s| s.1 == label)
        .map(|s| s.0)
        .collect();
    if of_label.is_empty() {
        return 0.0;
    }
    of_label.iter().filter(|&&s| s >= threshold).count() as f64 / of_label.len() as f64
}

/// The smallest `f32` above `x` (for `x` finite and non-negative, as scores are).
fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    f32::from_bits(x.to_bits() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_random_auroc() {
        let perfect = [(0.9, true), (0.8, true), (0.1, false), (0.2, false)];
        assert_eq!(auroc(&perfect), Some(1.0));
        let inverted = [(0.1, true), (0.2, true), (0.9, false), (0.8, false)];
        assert_eq!(auroc(&inverted), Some(0.0));
        let ties = [(0.5, true), (0.5, false)];
        assert_eq!(auroc(&ties), Some(0.5));
        assert_eq!(auroc(&[(0.5, true)]), None);
    }

    #[test]
    fn tpr_at_fpr_respects_the_budget() {
        // Ten benign at 0.0..0.9, attacks at 0.85 and 0.95.
        let mut s: Vec<(f32, bool)> = (0..10).map(|i| (i as f32 / 10.0, false)).collect();
        s.push((0.85, true));
        s.push((0.95, true));
        let (t, tpr) = tpr_at_fpr(&s, 0.0);
        assert!(t > 0.9 && tpr == 0.5);
        let (t, tpr) = tpr_at_fpr(&s, 0.1);
        assert!(t > 0.8 && t <= 0.85 && tpr == 1.0);
        assert!(rate(&s, false, t) <= 0.1);
    }
}
