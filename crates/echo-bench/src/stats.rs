//! Medians and ranges of repeated measurements.

/// The median and the range of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Summary {
    /// `None` for no samples. NaNs are ignored.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[v.len() - 1],
            count: v.len(),
        })
    }

    /// `median (min–max)` with `digits` significant digits.
    pub fn fmt(&self, digits: usize) -> String {
        format!(
            "{} ({}–{})",
            sig(self.median, digits),
            sig(self.min, digits),
            sig(self.max, digits)
        )
    }
}

/// `x` with about `digits` significant digits, and commas between
/// thousands from five digits on (`61,200`, `1230`, `0.612`, `4.1`).
pub fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let rounded = if magnitude >= digits as i32 {
        let unit = 10f64.powi(magnitude + 1 - digits as i32);
        (x / unit).round() * unit
    } else {
        x
    };
    let text = format!("{rounded:.decimals$}");
    group_thousands(&text)
}

fn group_thousands(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if int.len() <= 4 {
        return text.to_string();
    }
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.count), (2.0, 1.0, 3.0, 3));
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(61234.0, 3), "61,200");
        assert_eq!(sig(0.61234, 3), "0.612");
        assert_eq!(sig(4.1, 2), "4.1");
        assert_eq!(sig(990.0, 3), "990");
        assert_eq!(sig(1234.0, 3), "1230");
        assert_eq!(sig(1_234_567.0, 3), "1,230,000");
    }
}
