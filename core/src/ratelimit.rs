//! Rate limiting by a sliding window counter: the requests of the current
//! fixed window plus the previous window's, weighted by how much of it the
//! sliding window still covers. Only admitted requests count, so a client
//! that sends at twice the limit still gets the limit.
//!
//! Burst: at most `limit` requests can arrive back to back when the previous
//! window was idle; over any window's length the admitted count stays close
//! to `limit` (the estimate assumes the previous window's requests were
//! spread evenly).

/// The counters of one key. All times are milliseconds on one clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Start of the current fixed window (a multiple of its length); 0: unused.
    pub start_ms: i64,
    /// Requests admitted in the current window.
    pub current: u32,
    /// Requests admitted in the previous window.
    pub previous: u32,
}

/// What one request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub admitted: bool,
    /// Requests left before the limit, after this one.
    pub remaining: u32,
    /// Whole seconds until a request can be admitted again (0 when admitted).
    pub retry_after_secs: u32,
    /// Whole seconds until `remaining` next grows (at least 1): the `t` of
    /// the RateLimit header field. For a refusal, `retry_after_secs`.
    pub reset_secs: u32,
}

impl Window {
    /// Move the fixed windows forward to `now_ms`.
    fn roll(&mut self, now_ms: i64, window_ms: i64) {
        let aligned = now_ms - now_ms.rem_euclid(window_ms);
        if self.start_ms == 0 || aligned >= self.start_ms + 2 * window_ms {
            *self = Window {
                start_ms: aligned,
                current: 0,
                previous: 0,
            };
        } else if aligned >= self.start_ms + window_ms {
            *self = Window {
                start_ms: aligned,
                current: 0,
                previous: self.current,
            };
        }
    }

    /// Requests counted in the sliding window ending at `now_ms`.
    fn estimate(&self, now_ms: i64, window_ms: i64) -> f64 {
        let elapsed = (now_ms - self.start_ms).clamp(0, window_ms) as f64;
        let w = window_ms as f64;
        f64::from(self.previous) * (w - elapsed) / w + f64::from(self.current)
    }

    /// Nothing left to remember: the windows it counted are over.
    pub fn is_stale(&self, now_ms: i64, window_ms: i64) -> bool {
        self.start_ms == 0 || now_ms >= self.start_ms + 2 * window_ms
    }

    /// Decide one request at `now_ms` under `limit` per `window_ms`, and
    /// count it when admitted.
    pub fn admit(&mut self, now_ms: i64, limit: u32, window_ms: i64) -> Decision {
        let window_ms = window_ms.max(1);
        self.roll(now_ms, window_ms);
        let estimate = self.estimate(now_ms, window_ms);
        let limit_f = f64::from(limit);
        if estimate + 1.0 <= limit_f {
            self.current = self.current.saturating_add(1);
            let remaining = (limit_f - estimate - 1.0).floor().max(0.0) as u32;
            // One more request is left once the estimate (this one counted)
            // falls to limit - remaining - 1.
            let target = limit_f - f64::from(remaining) - 1.0;
            return Decision {
                admitted: true,
                remaining,
                retry_after_secs: 0,
                reset_secs: whole_secs(self.wait_ms(now_ms, target, window_ms)),
            };
        }
        let retry = whole_secs(self.wait_ms(now_ms, limit_f - 1.0, window_ms));
        Decision {
            admitted: false,
            remaining: 0,
            retry_after_secs: retry,
            reset_secs: retry,
        }
    }

    /// Take back a request [`Window::admit`] admitted at `now_ms` (another
    /// limit refused it, so it must not use this one's budget either).
    pub fn refund(&mut self, now_ms: i64, window_ms: i64) {
        let window_ms = window_ms.max(1);
        if self.start_ms != 0 && now_ms - now_ms.rem_euclid(window_ms) == self.start_ms {
            self.current = self.current.saturating_sub(1);
        }
    }

    /// Milliseconds until the estimate falls to `target` or below.
    fn wait_ms(&self, now_ms: i64, target: f64, window_ms: i64) -> i64 {
        let w = window_ms as f64;
        let elapsed = (now_ms - self.start_ms).clamp(0, window_ms) as f64;
        let (previous, current) = (f64::from(self.previous), f64::from(self.current));
        // Still in this window: previous * (w - elapsed - t) / w + current <= target.
        if previous > 0.0 && target >= current {
            let t = (w - elapsed) - (target - current) * w / previous;
            if t < w - elapsed {
                return t.max(0.0).ceil() as i64;
            }
        }
        // In the next window, where this window's count becomes `previous`.
        let u = if current > target && current > 0.0 {
            w - target.max(0.0) * w / current
        } else {
            0.0
        };
        ((w - elapsed) + u).ceil() as i64
    }
}

/// Milliseconds as whole seconds, rounded up, at least 1.
fn whole_secs(ms: i64) -> u32 {
    u32::try_from((ms + 999) / 1000).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn admits_the_limit_then_refuses_with_a_retry_time() {
        let mut w = Window::default();
        let t0 = 60_000 * 1000;
        for i in 0..5 {
            let d = w.admit(t0 + i, 5, 60_000);
            assert!(d.admitted);
            assert_eq!(d.remaining, 4 - i as u32);
        }
        let d = w.admit(t0 + 10, 5, 60_000);
        assert!(!d.admitted);
        assert_eq!(d.remaining, 0);
        assert!(
            d.retry_after_secs >= 60 && d.retry_after_secs <= 120,
            "{d:?}"
        );
        // Refused requests do not count.
        assert_eq!(w.current, 5);
    }

    #[test]
    fn the_limit_comes_back_after_the_window() {
        let mut w = Window::default();
        let t0 = 1_000_000 * 1000;
        for i in 0..10 {
            assert!(w.admit(t0 + i, 10, 1000).admitted);
        }
        assert!(!w.admit(t0 + 500, 10, 1000).admitted);
        // Two windows later everything is forgotten.
        assert!(w.admit(t0 + 2000, 10, 1000).admitted);
        assert!(w.is_stale(t0 + 4000, 1000));
        assert!(!w.is_stale(t0 + 2100, 1000));
    }

    #[test]
    fn retry_after_is_honest() {
        // Whatever state: waiting retry_after_secs admits the next request.
        let mut w = Window::default();
        let mut now = 5_000_000;
        for _ in 0..1000 {
            let d = w.admit(now, 7, 3000);
            if !d.admitted {
                let mut probe = w;
                let later = now + i64::from(d.retry_after_secs) * 1000;
                assert!(probe.admit(later, 7, 3000).admitted, "{w:?} {d:?}");
            }
            now += 97;
        }
    }

    #[test]
    fn reset_is_when_one_more_request_is_left() {
        let mut w = Window::default();
        let t0 = 60_000 * 1000;
        // A fresh window: the first request is left again when it has aged
        // out of the sliding window, at the end of the next window.
        let d = w.admit(t0 + 15_000, 5, 60_000);
        assert_eq!((d.remaining, d.reset_secs), (4, 105));
        // A refusal's reset is its retry time.
        for i in 0..4 {
            assert!(w.admit(t0 + 15_001 + i, 5, 60_000).admitted);
        }
        let d = w.admit(t0 + 20_000, 5, 60_000);
        assert!(!d.admitted);
        assert_eq!(d.reset_secs, d.retry_after_secs);
    }

    #[test]
    fn a_refund_gives_the_request_back() {
        let mut w = Window::default();
        let t0 = 60_000 * 1000;
        for i in 0..3 {
            assert!(w.admit(t0 + i, 3, 60_000).admitted);
        }
        assert!(!w.admit(t0 + 3, 3, 60_000).admitted);
        w.refund(t0 + 4, 60_000);
        assert!(w.admit(t0 + 5, 3, 60_000).admitted);
        // A refund in a later window than the admission changes nothing.
        let before = w;
        w.refund(t0 + 60_000, 60_000);
        assert_eq!(w, before);
    }

    /// A client at `factor` times the limit gets the limit, within 5%.
    fn admitted_over(windows: i64, limit: u32, window_ms: i64, factor: u32) -> u32 {
        let mut w = Window::default();
        let sends = i64::from(limit * factor) * windows;
        let start = 7 * window_ms + 3;
        (0..sends)
            .filter(|i| {
                w.admit(start + i * window_ms * windows / sends, limit, window_ms)
                    .admitted
            })
            .count() as u32
    }

    #[test]
    fn twice_the_limit_gets_the_limit() {
        let got = admitted_over(60, 120, 60_000, 2);
        let expected = 120 * 60;
        assert!(
            (got as f64 - expected as f64).abs() / (expected as f64) < 0.05,
            "{got} vs {expected}"
        );
    }

    proptest! {
        #[test]
        fn overload_gets_the_limit(limit in 30u32..300, factor in 2u32..5, window_s in 1i64..120) {
            let windows = 20;
            let got = admitted_over(windows, limit, window_s * 1000, factor);
            let expected = f64::from(limit) * windows as f64;
            prop_assert!(f64::from(got) <= expected + f64::from(limit) + 1.0, "{} > {}", got, expected);
            prop_assert!(f64::from(got) >= expected * 0.95 - 1.0, "{} < {}", got, expected);
        }

        /// Whatever the state: after `reset_secs` a request is admitted and
        /// leaves at least as many as the decision said were left, so one
        /// more request was left by then.
        #[test]
        fn reset_is_honest(limit in 1u32..50, window_s in 1i64..100,
                           steps in proptest::collection::vec(0i64..5_000, 1..200)) {
            let mut w = Window::default();
            let mut now = 5_000_000_i64;
            for s in steps {
                now += s;
                let d = w.admit(now, limit, window_s * 1000);
                prop_assert!(d.reset_secs >= 1);
                if !d.admitted {
                    prop_assert_eq!(d.reset_secs, d.retry_after_secs);
                }
                let mut probe = w;
                let later = probe.admit(now + i64::from(d.reset_secs) * 1000, limit, window_s * 1000);
                prop_assert!(later.admitted, "{:?} {:?}", w, d);
                prop_assert!(later.remaining >= d.remaining, "{:?} {:?} {:?}", w, d, later);
            }
        }

        #[test]
        fn never_panics(start in 0i64..i64::MAX / 4, steps in proptest::collection::vec(0i64..100_000, 0..50),
                        limit in 0u32..1000, window in 0i64..10_000_000) {
            let mut w = Window::default();
            let mut now = start;
            for s in steps {
                now += s;
                let _ = w.admit(now, limit, window);
            }
        }
    }
}
