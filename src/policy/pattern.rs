//! Glob patterns of the policy: `*` within one path segment, `**` across segments, and
//! placeholders `${group}`, `${user}`, `${email}` whose values match literally.

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: anything but `/`.
    Star,
    /// `**`: anything.
    DoubleStar,
    Var(Var),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Group,
    User,
    Email,
}

/// Values the placeholders stand for while one rule is evaluated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Bindings<'a> {
    pub group: Option<&'a str>,
    pub user: &'a str,
    pub email: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
}

/// Why a pattern in the policy does not parse; the policy names the rule around it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("empty pattern")]
    Empty,
    #[error("`{text}`: use * or **, not {stars}")]
    Stars { text: String, stars: String },
    #[error("`{0}`: unclosed ${{")]
    Unclosed(String),
    #[error("`{text}`: unknown placeholder ${{{name}}} (group, user, email)")]
    UnknownPlaceholder { text: String, name: String },
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut tokens = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    let n = chars[i..].iter().take_while(|c| **c == '*').count();
                    match n {
                        1 => tokens.push(Token::Star),
                        2 => tokens.push(Token::DoubleStar),
                        _ => {
                            return Err(PatternError::Stars {
                                text: text.into(),
                                stars: "*".repeat(n),
                            });
                        }
                    }
                    i += n;
                }
                '$' if chars.get(i + 1) == Some(&'{') => {
                    let end = chars[i..]
                        .iter()
                        .position(|c| *c == '}')
                        .ok_or_else(|| PatternError::Unclosed(text.into()))?;
                    let name: String = chars[i + 2..i + end].iter().collect();
                    let var = match name.as_str() {
                        "group" => Var::Group,
                        "user" => Var::User,
                        "email" => Var::Email,
                        other => {
                            return Err(PatternError::UnknownPlaceholder {
                                text: text.into(),
                                name: other.into(),
                            });
                        }
                    };
                    tokens.push(Token::Var(var));
                    i += end + 1;
                }
                c => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn uses(&self, v: Var) -> bool {
        self.tokens.contains(&Token::Var(v))
    }

    /// The pattern with placeholders filled, when that leaves no glob: a concrete name.
    pub fn expand(&self, b: &Bindings<'_>) -> Option<String> {
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                Token::Char(c) => out.push(*c),
                Token::Var(Var::Group) => out.push_str(b.group?),
                Token::Var(Var::User) => out.push_str(b.user),
                Token::Var(Var::Email) => out.push_str(b.email),
                Token::Star | Token::DoubleStar => return None,
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Whether `s` matches; `None` when a placeholder the pattern needs has no value.
    pub fn matches(&self, s: &str, b: &Bindings<'_>) -> Option<bool> {
        // Expand placeholders into literal characters first: their values never act as globs.
        let mut expanded: Vec<Token> = Vec::with_capacity(self.tokens.len());
        for t in &self.tokens {
            match t {
                Token::Var(v) => {
                    let value = match v {
                        Var::Group => b.group?,
                        Var::User => b.user,
                        Var::Email => b.email,
                    };
                    if value.is_empty() {
                        return None;
                    }
                    expanded.extend(value.chars().map(Token::Char));
                }
                other => expanded.push(other.clone()),
            }
        }
        let s: Vec<char> = s.chars().collect();
        Some(glob(&expanded, &s))
    }
}

/// Whether `s` matches `p`, as a set of pattern positions advanced one character at a time:
/// work is at most 2 x |p| x |s| steps whatever the input. The obvious backtracking match is
/// exponential in the number of stars (`**/**/**/**/x` against a long repository name
/// took seconds of CPU per registry scope).
fn glob(p: &[Token], s: &[char]) -> bool {
    glob_counted(p, s).0
}

/// The match and the number of state steps it took (the tests bound the latter).
fn glob_counted(p: &[Token], s: &[char]) -> (bool, usize) {
    let mut steps = 0usize;
    let mut reach = vec![false; p.len() + 1];
    reach[0] = true;
    // A star may match nothing: whoever reaches it also reaches what follows it.
    let close = |reach: &mut Vec<bool>, steps: &mut usize| {
        for j in 0..p.len() {
            *steps += 1;
            if reach[j] && matches!(p[j], Token::Star | Token::DoubleStar) {
                reach[j + 1] = true;
            }
        }
    };
    close(&mut reach, &mut steps);
    for &c in s {
        let mut next = vec![false; p.len() + 1];
        let mut alive = false;
        for j in 0..p.len() {
            steps += 1;
            if !reach[j] {
                continue;
            }
            match p[j] {
                Token::Char(pc) if pc == c => next[j + 1] = true,
                Token::Star if c != '/' => next[j] = true,
                Token::DoubleStar => next[j] = true,
                _ => continue,
            }
            alive = true;
        }
        if !alive {
            return (false, steps);
        }
        reach = next;
        close(&mut reach, &mut steps);
    }
    (reach[p.len()], steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::parse(p)
            .unwrap()
            .matches(
                s,
                &Bindings {
                    group: Some("team-a"),
                    user: "alice",
                    email: "a@x",
                },
            )
            .unwrap()
    }

    #[test]
    fn stars_stay_in_their_segment_and_double_stars_cross() {
        assert!(m("library/*", "library/alpine"));
        assert!(!m("library/*", "library/a/b"));
        assert!(m("library/**", "library/a/b"));
        assert!(m("**", "anything/at/all"));
        assert!(m("team-*", "team-a"));
        assert!(!m("team-*", "team-a/x"));
        assert!(!m("library/**", "librar/x"));
    }

    #[test]
    fn placeholders_match_literally() {
        assert!(m("${group}/**", "team-a/app"));
        assert!(!m("${group}/**", "team-b/app"));
        assert!(m("users/${user}", "users/alice"));
        let p = Pattern::parse("${group}/x").unwrap();
        // A group named like a glob matches only itself.
        assert_eq!(
            p.matches(
                "anything/x",
                &Bindings {
                    group: Some("*"),
                    user: "u",
                    email: ""
                }
            ),
            Some(false)
        );
        assert_eq!(
            p.matches(
                "*/x",
                &Bindings {
                    group: Some("*"),
                    user: "u",
                    email: ""
                }
            ),
            Some(true)
        );
        assert_eq!(
            p.matches(
                "a/x",
                &Bindings {
                    group: None,
                    user: "u",
                    email: ""
                }
            ),
            None
        );
    }

    #[test]
    fn matching_work_is_bounded_by_pattern_times_name() {
        // Stars that can split a long name many ways: backtracking tries every split.
        let name: String = (0..100).map(|i| format!("s{i}/")).collect::<String>() + "y";
        for pattern in [
            "**/**/**/**/**/x",
            "*a*a*a*a*a*a*a*a*a*b",
            "**a**a**a**a**a**b",
        ] {
            let p = Pattern::parse(pattern).unwrap();
            let s: Vec<char> = name.chars().collect();
            let (matched, steps) = glob_counted(&p.tokens, &s);
            assert!(!matched, "{pattern}");
            let bound = 2 * (p.tokens.len() + 1) * (s.len() + 1);
            assert!(steps <= bound, "{pattern}: {steps} steps, bound {bound}");
            let a_name = "a".repeat(300);
            let (matched, steps) = glob_counted(&p.tokens, &a_name.chars().collect::<Vec<_>>());
            assert!(!matched, "{pattern}");
            assert!(
                steps <= 2 * (p.tokens.len() + 1) * 301,
                "{pattern}: {steps} steps"
            );
        }
        // And it still answers like a glob where a split exists.
        assert!(m("**/**/x", "a/b/c/x"));
        assert!(m("*a*b", "xxaxxb"));
        assert!(!m("*a*b", "xxa/xb"));
        assert!(m("a**", "a"));
        assert!(m("**", ""));
        assert!(!m("a*", ""));
    }

    #[test]
    fn bad_patterns_are_named() {
        assert!(
            Pattern::parse("a/***")
                .unwrap_err()
                .to_string()
                .contains("***")
        );
        assert!(
            Pattern::parse("${team}/x")
                .unwrap_err()
                .to_string()
                .contains("${team}")
        );
        assert!(Pattern::parse("${group").is_err());
        assert!(Pattern::parse("").is_err());
    }
}
