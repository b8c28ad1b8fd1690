//! Rust tokens as far as module paths need them, and `#[cfg(test)]` modules cut out.
//!
//! Not a full lexer: identifiers, `::`, single punctuation characters and comments (kept,
//! for intra-doc links); string, raw string, byte string and char literals are dropped so
//! that neither their text nor their braces count.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
    Comment(String),
}

pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: usize,
}

/// Tokens without the `#[cfg(test)] mod …` items, and the names of those declared `mod x;`.
pub(super) fn strip_test_modules(tokens: Vec<Token>) -> (Vec<Token>, Vec<String>) {
    let attr = ["#", "[", "cfg", "(", "test", ")", "]"];
    let is = |t: &Token, s: &str| match &t.tok {
        Tok::Ident(x) => x == s,
        Tok::Punct(c) => s.len() == 1 && s.starts_with(*c),
        _ => false,
    };
    let (mut out, mut names, mut i) = (Vec::new(), Vec::new(), 0);
    while i < tokens.len() {
        let at_attr = attr
            .iter()
            .enumerate()
            .all(|(k, s)| tokens.get(i + k).is_some_and(|t| is(t, s)));
        if at_attr {
            let mut j = i + attr.len();
            // Further attributes and comments, then an optional `pub(…)`.
            loop {
                match tokens.get(j).map(|t| &t.tok) {
                    Some(Tok::Comment(_)) => j += 1,
                    Some(Tok::Punct('#')) => j = matching(&tokens, j + 1, '[', ']'),
                    Some(Tok::Ident(p)) if p == "pub" => {
                        j += 1;
                        if tokens.get(j).is_some_and(|t| is(t, "(")) {
                            j = matching(&tokens, j, '(', ')');
                        }
                    }
                    _ => break,
                }
            }
            if tokens.get(j).is_some_and(|t| is(t, "mod")) {
                if let Some(Tok::Ident(name)) = tokens.get(j + 1).map(|t| &t.tok) {
                    if tokens.get(j + 2).is_some_and(|t| is(t, ";")) {
                        names.push(name.clone());
                        i = j + 3;
                        continue;
                    }
                    if tokens.get(j + 2).is_some_and(|t| is(t, "{")) {
                        i = matching(&tokens, j + 2, '{', '}');
                        continue;
                    }
                }
            }
        }
        out.push(Token {
            tok: tokens[i].tok.clone(),
            line: tokens[i].line,
        });
        i += 1;
    }
    (out, names)
}

/// The index after the bracket closing the one at `i`.
fn matching(tokens: &[Token], mut i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    while let Some(t) = tokens.get(i) {
        i += 1;
        match t.tok {
            Tok::Punct(c) if c == open => depth += 1,
            Tok::Punct(c) if c == close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    i
}

/// Rust tokens as far as paths need them: identifiers, `::`, punctuation, comments;
/// string, raw string, byte string and char literals dropped.
pub(super) fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    let count = |from: usize, to: usize| {
        c[from..to.min(c.len())]
            .iter()
            .filter(|&&x| x == '\n')
            .count()
    };
    while i < c.len() {
        let start = i;
        let (next, after) = (c.get(i + 1).copied(), c.get(i + 2).copied());
        match c[i] {
            '/' if next == Some('/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Comment(c[start..i].iter().collect()),
                    line,
                });
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 1;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Comment(c[start..i].iter().collect()),
                    line,
                });
            }
            '"' => i = end_of_string(&c, i + 1, None),
            '\'' if next == Some('\\') => {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            '\'' if after == Some('\'') => i += 3,
            ':' if next == Some(':') => {
                out.push(Token {
                    tok: Tok::Sep,
                    line,
                });
                i += 2;
            }
            x if x.is_alphabetic() || x == '_' => {
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let raw = matches!(word.as_str(), "r" | "br" | "cr");
                let hashes = c[i..].iter().take_while(|&&x| x == '#').count();
                if raw && c.get(i + hashes) == Some(&'"') {
                    i = end_of_string(&c, i + hashes + 1, Some(hashes));
                } else if matches!(word.as_str(), "b" | "c") && c.get(i) == Some(&'"') {
                    i = end_of_string(&c, i + 1, None);
                } else {
                    out.push(Token {
                        tok: Tok::Ident(word),
                        line,
                    });
                }
            }
            x if x.is_whitespace() => i += 1,
            x => {
                out.push(Token {
                    tok: Tok::Punct(x),
                    line,
                });
                i += 1;
            }
        }
        line += count(start, i);
    }
    out
}

/// The index after a string's closing quote: an escaping string (`raw: None`), or a raw
/// string closed by `"` and that many `#`.
fn end_of_string(c: &[char], mut i: usize, raw: Option<usize>) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' if raw.is_none() => i += 2,
            '"' => {
                let n = raw.unwrap_or(0);
                if c[i + 1..].iter().take(n).filter(|&&x| x == '#').count() == n {
                    return i + 1 + n;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}
