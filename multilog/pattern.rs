//! multilog's line patterns (daemontools' match.c semantics).
//!
//! A pattern is a string of stars and non-stars. A non-star matches itself; a star before the end
//! of the pattern matches any string that does not contain the next pattern byte (so `*` never
//! backtracks); a star at the end matches anything. The whole line must be matched.

/// True if `pattern` matches all of `line`.
pub fn matches(pattern: &[u8], line: &[u8]) -> bool {
    let mut p = 0;
    let mut l = 0;
    loop {
        let Some(&ch) = pattern.get(p) else {
            return l == line.len();
        };
        p += 1;
        if ch == b'*' {
            let Some(&next) = pattern.get(p) else {
                return true;
            };
            // compat: match.c skips to the first occurrence of the next pattern byte, no
            // backtracking; the next loop turn then matches that byte (or another star).
            match memchr::memchr(next, &line[l..]) {
                Some(at) => l += at,
                None => return false,
            }
            continue;
        }
        if line.get(l) != Some(&ch) {
            return false;
        }
        l += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    /// (pattern, line, matches?) as daemontools' match.c answers.
    const TABLE: &[(&str, &str, bool)] = &[
        ("hello", "hello", true),
        ("hello", "hello world", false),
        ("hello", "hell", false),
        ("", "", true),
        ("", "x", false),
        ("*", "", true),
        ("*", "anything at all", true),
        (
            "named[*]: Cleaned cache *",
            "named[135]: Cleaned cache of 3121 RRs",
            true,
        ),
        (
            "named[*]: Cleaned cache *",
            "named[1]x]: Cleaned cache of 3",
            false,
        ),
        (
            "* fatal: *",
            "@400000003b4a39c23294b13c fatal: out of memory",
            true,
        ),
        (
            "* fatal: *",
            "@400000003b4a39c23294b13c warning: fatal: x",
            false,
        ),
        ("a*b", "aXXb", true),
        ("a*b", "aXbXb", false),
        ("a*b", "ab", true),
        ("a*", "a", true),
        ("*b", "abb", false),
        ("*b", "ab", true),
        ("**", "x", false),
        ("**", "x*", true),
        ("a**b", "axb", false),
        ("a**b", "a*b", true),
        ("STAT*", "STATUS ok", true),
        ("STAT*", "xSTAT", false),
    ];

    #[test]
    fn pattern_table_matches_daemontools() {
        for &(pattern, line, want) in TABLE {
            assert_eq!(
                matches(pattern.as_bytes(), line.as_bytes()),
                want,
                "pattern {pattern:?} line {line:?}"
            );
        }
    }

    #[test]
    fn binary_bytes_and_nuls_are_ordinary() {
        assert!(matches(b"a\0*\xff", b"a\0xyz\xff"));
        assert!(!matches(b"a\0", b"a"));
    }

    /// A plain backtracking-free reading of the man page, to check the fast one against.
    fn reference(pattern: &[u8], line: &[u8]) -> bool {
        match pattern.split_first() {
            None => line.is_empty(),
            Some((b'*', rest)) => match rest.first() {
                None => true,
                Some(next) => match line.iter().position(|b| b == next) {
                    Some(at) => reference(rest, &line[at..]),
                    None => false,
                },
            },
            Some((ch, rest)) => line.first() == Some(ch) && reference(rest, &line[1..]),
        }
    }

    #[test]
    fn random_patterns_agree_with_the_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            let pattern: Vec<u8> = (0..next(6)).map(|_| b"ab*\0"[next(4) as usize]).collect();
            let line: Vec<u8> = (0..next(8)).map(|_| b"ab*\0"[next(4) as usize]).collect();
            assert_eq!(
                matches(&pattern, &line),
                reference(&pattern, &line),
                "{pattern:?} {line:?}"
            );
        }
    }
}
