//! Characters that make a name read differently from what is stored:
//! bidirectional controls (`evil\u{202E}moc.com` shows as `evil.com`
//! reversed), zero-width characters, private-use and unassigned code
//! points. Client names and contact addresses refuse them, naming the
//! character, so a look-alike cannot pass for a real client or address.

use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// A character that has no place in a name a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookAlike {
    pub ch: char,
    /// Its Unicode name, for the ones refused by name.
    pub name: Option<&'static str>,
    pub kind: &'static str,
}

impl fmt::Display for LookAlike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", u32::from(self.ch))?;
        if let Some(name) = self.name {
            write!(f, " {name}")?;
        }
        write!(f, " ({})", self.kind)
    }
}

const BIDI: &str = "a bidirectional control: text shows in another order than it is stored";
const ZERO_WIDTH: &str = "a zero-width character: invisible";

/// Characters refused by name, with what they are.
const NAMED: &[(char, &str, &str)] = &[
    ('\u{061C}', "ARABIC LETTER MARK", BIDI),
    ('\u{200E}', "LEFT-TO-RIGHT MARK", BIDI),
    ('\u{200F}', "RIGHT-TO-LEFT MARK", BIDI),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING", BIDI),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING", BIDI),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING", BIDI),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE", BIDI),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE", BIDI),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE", BIDI),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE", BIDI),
    ('\u{2068}', "FIRST STRONG ISOLATE", BIDI),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE", BIDI),
    ('\u{200B}', "ZERO WIDTH SPACE", ZERO_WIDTH),
    ('\u{200C}', "ZERO WIDTH NON-JOINER", ZERO_WIDTH),
    ('\u{200D}', "ZERO WIDTH JOINER", ZERO_WIDTH),
    ('\u{2060}', "WORD JOINER", ZERO_WIDTH),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE", ZERO_WIDTH),
    ('\u{180E}', "MONGOLIAN VOWEL SEPARATOR", ZERO_WIDTH),
];

/// The first character of `text` that a name must not contain, if any.
pub fn look_alike(text: &str) -> Option<LookAlike> {
    text.chars().find_map(|ch| {
        if let Some((_, name, kind)) = NAMED.iter().find(|(c, _, _)| *c == ch) {
            return Some(LookAlike {
                ch,
                name: Some(name),
                kind,
            });
        }
        let kind = match ch.general_category() {
            GeneralCategory::PrivateUse => {
                "a private-use character: it means nothing outside one system"
            }
            GeneralCategory::Unassigned => "an unassigned code point: no character has it yet",
            _ => return None,
        };
        Some(LookAlike {
            ch,
            name: None,
            kind,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_are_found_and_named() {
        let found = |text: &str| look_alike(text).map(|l| l.to_string());
        assert_eq!(
            found("Acme\u{202E}dtl"),
            Some("U+202E RIGHT-TO-LEFT OVERRIDE (a bidirectional control: text shows in another order than it is stored)".to_owned())
        );
        assert_eq!(
            found("ac\u{200B}me"),
            Some("U+200B ZERO WIDTH SPACE (a zero-width character: invisible)".to_owned())
        );
        assert!(found("Acme \u{E000}").is_some_and(|t| t.starts_with("U+E000 (a private-use")));
        assert!(found("x\u{0378}").is_some_and(|t| t.starts_with("U+0378 (an unassigned")));
        assert!(found("x\u{10FFFD}").is_some_and(|t| t.contains("private-use")));
        // Real names in any script pass.
        for ok in [
            "Acme Ltd",
            "Bäckerei Müller GmbH",
            "株式会社アクメ",
            "شركة",
            "O'Brien & Sons",
        ] {
            assert_eq!(look_alike(ok), None, "{ok}");
        }
    }
}
