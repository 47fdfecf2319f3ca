//! Splits query text into tokens, remembering each one's column.

use super::QueryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word: field, keyword, function name or unquoted value.
    Word(String),
    /// A quoted string.
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 1-based column in characters.
    pub column: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+' | '/' | ':' | '\'')
}

pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token { tok: Tok::LParen, column });
                i += 1;
            }
            ')' => {
                tokens.push(Token { tok: Tok::RParen, column });
                i += 1;
            }
            ',' => {
                tokens.push(Token { tok: Tok::Comma, column });
                i += 1;
            }
            '"' | '«' | '“' => {
                let close = match c {
                    '«' => '»',
                    '“' => '”',
                    _ => '"',
                };
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(QueryError::new("unterminated string", column)),
                        Some('\\') if chars.get(j + 1).is_some() => {
                            value.push(chars[j + 1]);
                            j += 2;
                        }
                        Some(ch) if *ch == close => break,
                        Some(ch) => {
                            value.push(*ch);
                            j += 1;
                        }
                    }
                }
                tokens.push(Token { tok: Tok::Str(value.trim().to_owned()), column });
                i = j + 1;
            }
            _ if matches!(two.as_str(), "!=" | "<>" | "<=" | ">=" | "!~") => {
                let op = match two.as_str() {
                    "!=" | "<>" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => "!~",
                };
                tokens.push(Token { tok: Tok::Op(op), column });
                i += 2;
            }
            '=' | '<' | '>' | '~' => {
                let op = match c {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    _ => "~",
                };
                tokens.push(Token { tok: Tok::Op(op), column });
                i += 1;
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                tokens.push(Token { tok: Tok::Word(chars[start..i].iter().collect()), column });
            }
            other => return Err(QueryError::new(format!("unexpected character `{other}`"), column)),
        }
    }
    tokens.push(Token { tok: Tok::End, column: chars.len() + 1 });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_words_and_strings_are_told_apart() {
        let tokens = tokenize(r#"statut != "en attente" AND due<=-2h"#).unwrap();
        let kinds: Vec<_> = tokens.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(
            kinds,
            [
                Tok::Word("statut".into()),
                Tok::Op("!="),
                Tok::Str("en attente".into()),
                Tok::Word("AND".into()),
                Tok::Word("due".into()),
                Tok::Op("<="),
                Tok::Word("-2h".into()),
                Tok::End
            ]
        );
        assert_eq!(tokens[2].column, 11);
    }

    #[test]
    fn unterminated_strings_are_reported_where_they_start() {
        assert_eq!(tokenize("title ~ \"abc").unwrap_err().column, 9);
    }
}
