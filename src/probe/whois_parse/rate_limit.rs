//! What a WHOIS "slow down" reply asks for: who is refused (the client, or this one domain) and
//! for how long, when the reply says.
//!
//! The rule: a refusal is about the queried domain only when a refusal line names that domain
//! (`Query limit exceeded for EXAMPLE.COM`) or says "this domain", and no refusal line speaks of
//! the client (`your IP`, `client`, an address). Anything else (`WHOIS LIMIT EXCEEDED`, `Query
//! rate limit exceeded`) is about the client, so the whole server waits. The wait is the first
//! duration that follows a word of waiting (`try again in 30 minutes`, `wait 10 seconds`,
//! `blocked for 1 hour`); a count over a period (`100 queries in 1 hour`) is not a wait.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::decode;
use super::labels::RATE_LIMITED;

/// A "slow down" reply, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitNotice {
    /// Only the queried domain is refused; other domains may be asked at once.
    pub domain_only: bool,
    /// How long the server asked us to wait, when it said.
    pub wait: Option<Duration>,
}

static THIS_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:this|the same|per|that) (?:domain|name|object|query)\b")
        .expect("static regex")
});
static ABOUT_THE_CLIENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:your|client|ip|ipv4|ipv6|address|network|subnet|host)\b|\d+\.\d+\.\d+\.\d+|[0-9a-f]*:[0-9a-f]*:")
        .expect("static regex")
});
static WAIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:try|retry|wait|again|blocked|banned|denied|suspended|paused|resume)\b[^.\n]{0,40}?\b(\d{1,7})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b",
    )
    .expect("static regex")
});

/// Reads a reply the parser called rate limited, for `domain` (lower case, ASCII).
pub fn rate_limit_notice(domain: &str, raw: &[u8]) -> RateLimitNotice {
    let text = decode(raw);
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|line| RATE_LIMITED.iter().any(|re| re.is_match(line)))
        .collect();
    let names_domain = |line: &&str| names(&line.to_ascii_lowercase(), &domain);
    let domain_only = refusals
        .iter()
        .any(|line| names_domain(line) || THIS_DOMAIN.is_match(line))
        && !refusals.iter().any(|line| {
            let without_domain = line.to_ascii_lowercase().replace(&domain, " ");
            ABOUT_THE_CLIENT.is_match(&without_domain)
        });
    RateLimitNotice {
        domain_only,
        wait: stated_wait(&text),
    }
}

/// `domain` as a whole name in `line` (not `x.test` inside `notx.test` or `x.test.example`).
fn names(line: &str, domain: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    line.match_indices(domain).any(|(at, _)| {
        let starts_earlier = line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| name_char(c) || c == '.');
        let mut after = line[at + domain.len()..].chars();
        let goes_on = match after.next() {
            Some('.') => after.next().is_some_and(name_char),
            Some(c) => name_char(c),
            None => false,
        };
        !starts_earlier && !goes_on
    })
}

/// The first wait the reply states.
fn stated_wait(text: &str) -> Option<Duration> {
    let caps = WAIT.captures(text)?;
    let amount: u64 = caps[1].parse().ok()?;
    let unit = caps[2].to_ascii_lowercase();
    let seconds = match unit.chars().next()? {
        'h' => amount.saturating_mul(3600),
        'm' => amount.saturating_mul(60),
        _ => amount,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(domain: &str, reply: &str) -> RateLimitNotice {
        rate_limit_notice(domain, reply.as_bytes())
    }

    #[test]
    fn a_refusal_naming_the_domain_is_about_that_domain() {
        let n = notice("limited.test", "Query limit exceeded for LIMITED.TEST.\r\n");
        assert_eq!(
            n,
            RateLimitNotice {
                domain_only: true,
                wait: None
            }
        );
        let n = notice(
            "x.test",
            "Too many queries for this domain; try again in 2 hours\r\n",
        );
        assert!(n.domain_only);
        assert_eq!(n.wait, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn a_refusal_about_the_client_is_server_wide_even_when_it_names_the_domain() {
        for reply in [
            "WHOIS LIMIT EXCEEDED - SEE WWW.REGISTRY.TEST/WHOIS FOR DETAILS\r\n",
            "% Query rate limit exceeded\r\n",
            "Query limit exceeded for your IP address while asking about x.test\r\n",
            "Limit exceeded for 192.0.2.7 (x.test)\r\n",
            "Query limit exceeded for notx.test\r\n",
        ] {
            assert!(!notice("x.test", reply).domain_only, "{reply}");
        }
    }

    #[test]
    fn the_wait_is_a_duration_after_a_word_of_waiting() {
        let wait = |reply: &str| notice("x.test", reply).wait;
        assert_eq!(
            wait("Rate limit exceeded. Please try again in 20 seconds.\n"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            wait("Limit exceeded; wait 10 minutes\n"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            wait("You have been blocked for 1 hour.\n"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            wait("Maximum of 100 queries in 1 hour exceeded.\n"),
            None,
            "a quota's period is not a wait"
        );
    }
}
