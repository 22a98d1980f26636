//! Labelled synthetic spend: daily series with the shapes real LLM spend has (a level,
//! weekly seasonality, month-end batch jobs, holidays, slow growth, noise) and planted
//! events of every kind the detector is for. Deterministic for a seed.

use super::{Label, Labelled};

/// Days each generated series runs (about six months).
pub const DAYS: usize = 180;

/// The kinds of series generated, in turn: `noise` series have no event at all (they
/// measure false alarms); every other kind has one planted event (spikes: two).
pub const KINDS: [&str; 7] = [
    "noise",
    "spike",
    "ramp",
    "drop",
    "new",
    "tag_lost",
    "credits_ended",
];

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn pick(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    /// Roughly normal (sum of four uniforms), mean 0, standard deviation 1.
    fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.range(-1.0, 1.0)).sum();
        s * (3.0f64 / 4.0).sqrt()
    }
}

/// The background every series shares a shape of: a level, a weekend factor, a month-end
/// lift, holidays, slow growth and multiplicative noise.
struct Shape {
    level: f64,
    weekend: f64,
    month_end: f64,
    growth: f64,
    noise: f64,
}

/// Noise levels (standard deviation of the day-to-day wobble) the series cycle through.
pub const NOISE_LEVELS: [f64; 4] = [0.02, 0.05, 0.10, 0.15];

/// Holidays (day indices): spend drops to 40% on each, as when a company stops.
const HOLIDAYS: [usize; 3] = [53, 114, 146];

impl Shape {
    fn draw(rng: &mut Rng, noise: f64) -> Shape {
        Shape {
            level: 200.0 * (15.0f64).powf(rng.range(0.0, 1.0)),
            weekend: rng.range(0.4, 1.0),
            month_end: rng.range(0.0, 0.2),
            growth: rng.range(0.0, 0.003),
            noise,
        }
    }

    /// Expected spend on day `d` (day 0 a Monday, months of 30 days) before any event.
    fn day(&self, d: usize) -> f64 {
        let weekday = if d % 7 >= 5 { self.weekend } else { 1.0 };
        let month_end = if d % 30 >= 28 {
            1.0 + self.month_end
        } else {
            1.0
        };
        let holiday = if HOLIDAYS.contains(&d) { 0.4 } else { 1.0 };
        self.level * weekday * month_end * holiday * (1.0 + self.growth * d as f64)
    }
}

/// `n` labelled series (kinds in turn, noise levels in turn) from `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<Labelled> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let noise = NOISE_LEVELS[(i / KINDS.len()) % NOISE_LEVELS.len()];
            series(&mut rng, i, kind, noise)
        })
        .collect()
}

/// One series of `kind`: the shape with noise, its event planted, the labels.
fn series(rng: &mut Rng, i: usize, kind: &'static str, noise: f64) -> Labelled {
    let shape = Shape::draw(rng, noise);
    let mut x: Vec<f64> = (0..DAYS)
        .map(|d| (shape.day(d) * (1.0 + shape.noise * rng.normal())).max(0.0))
        .collect();
    let mut labels: Vec<Label> = HOLIDAYS
        .iter()
        .map(|&d| Label {
            kind: "holiday",
            start: d,
            end: d,
            alert: false,
            strong_spike: false,
        })
        .collect();
    let start = rng.pick(60, 150);
    let event = |kind, start, end| Label {
        kind,
        start,
        end,
        alert: true,
        strong_spike: false,
    };
    match kind {
        "spike" => {
            for at in [start - 30, start] {
                let factor = rng.range(2.0, 10.0);
                x[at] *= factor;
                labels.push(Label {
                    strong_spike: factor >= 3.0,
                    ..event("spike", at, at)
                });
            }
        }
        "ramp" => {
            let rate = rng.range(0.12, 0.25);
            for (k, v) in x.iter_mut().enumerate().skip(start) {
                *v *= (1.0 + rate).powi((k - start + 1).min(8) as i32);
            }
            labels.push(event("ramp", start, start + 8 + super::SETTLE_DAYS));
        }
        "drop" => {
            let days = rng.pick(3, 11);
            let left = rng.range(0.0, 0.3);
            x[start..start + days].iter_mut().for_each(|v| *v *= left);
            labels.push(event("drop", start, start + days - 1));
        }
        "new" => {
            x[..start].iter_mut().for_each(|v| *v = 0.0);
            labels.push(event("new", start, start + super::SETTLE_DAYS));
        }
        "tag_lost" => {
            let left = rng.range(0.0, 0.1);
            x[start..].iter_mut().for_each(|v| *v *= left);
            labels.push(event("tag_lost", start, DAYS - 1));
        }
        "credits_ended" => {
            // Credits covered 30-60% of the spend until `start`.
            let covered = rng.range(0.3, 0.6);
            x[..start].iter_mut().for_each(|v| *v *= 1.0 - covered);
            labels.push(event("credits_ended", start, start + super::SETTLE_DAYS));
        }
        _ => {}
    }
    Labelled {
        name: format!("{kind}-{i:03} (noise {:.0}%)", noise * 100.0),
        x,
        labels,
    }
}
