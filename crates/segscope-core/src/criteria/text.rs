//! The readable text form of criteria, e.g.
//!
//! ```text
//! stage in ["Marketing qualified", "Sales ready"] AND country = "FR"
//!   AND (visited "/pricing" at least 3 times in last 30 days OR email clicked in last 7 days)
//!   AND NOT member of "Customers"
//! ```
//!
//! A hand-written lexer and recursive-descent parser, so that every error
//! names the line and column and what was expected there. `print` writes
//! the canonical form: `parse(print(c)) == c` for validated criteria.
//!
//! Grammar (keywords are case-insensitive):
//!
//! ```text
//! expr      = and ("OR" and)*
//! and       = unary ("AND" unary)*
//! unary     = "NOT" unary | "(" expr ")" | "everyone" | "nobody" | condition
//! condition = "visited" STRING [count "times"] [window]
//!           | "had" countword NUMBER ("session" | "sessions") [window]
//!           | "performed" STRING [count "times"] [window]
//!           | "email" EMAILKIND [count "times"] [window]
//!           | "member" "of" (STRING | "#" NUMBER)
//!           | "contact" "is" ("known" | "anonymous")
//!           | FIELD fieldop
//! fieldop   = ("=" | "!=" | "<" | "<=" | ">" | ">=") value
//!           | "before" value | "after" value
//!           | ["not"] "in" "[" value ("," value)* "]"
//!           | "in" "last" NUMBER ("day" | "days")
//!           | "more" "than" NUMBER ("day" | "days") "ago"
//!           | "contains" STRING | "starts" "with" STRING | "ends" "with" STRING
//!           | "is" ["not"] "empty" | "between" value "and" value
//! value     = STRING | NUMBER | "true" | "false" | DATE | DATETIME
//!           | "today" | "yesterday" | "tomorrow"
//!           | NUMBER ("day" | "days") ("ago" | "from" "now")
//! count     = countword NUMBER | (">=" | ">" | "<=" | "<" | "=") NUMBER
//! countword = "at" "least" | "at" "most" | "more" "than" | "fewer" "than" | "exactly"
//! window    = "in" "last" NUMBER ("day" | "days")
//! FIELD     = identifier | `backquoted name`
//! ```

use std::fmt::Write as _;

use crate::criteria::{Count, CountOp, Criteria, EmailCondition, FieldOp, Operand, Schema, Window, validate_node};
use crate::error::{Error, Location, Result};
use crate::ids::SegmentId;
use crate::model::ContactKind;
use crate::time::{format_instant, parse_date, parse_instant};

/// The longest criteria text accepted.
pub const MAX_TEXT_LEN: usize = 20_000;
/// How deep parentheses and NOTs may nest (the JSON form has the same limit).
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// A backquoted field name.
    Quoted(String),
    Str(String),
    Number(f64, String),
    Date(String),
    DateTime(String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Hash,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(q) => format!("`{q}`"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Number(_, raw) => format!("`{raw}`"),
            Tok::Date(d) | Tok::DateTime(d) => format!("`{d}`"),
            Tok::Op(op) => format!("`{op}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Hash => "`#`".into(),
            Tok::End => "the end of the criteria".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    offset: usize,
}

fn location(text: &str, offset: usize) -> Location {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Location::Text { offset, line, column }
}

fn lex(text: &str) -> Result<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |offset: usize, message: String| Error::invalid(message).at(location(text, offset));
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'[' => {
                i += 1;
                Tok::LBracket
            }
            b']' => {
                i += 1;
                Tok::RBracket
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'#' => {
                i += 1;
                Tok::Hash
            }
            b'=' => {
                i += if bytes.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                Tok::Op("=")
            }
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Op("!=")
            }
            b'<' if bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                Tok::Op("!=")
            }
            b'<' | b'>' => {
                let eq = bytes.get(i + 1) == Some(&b'=');
                i += if eq { 2 } else { 1 };
                Tok::Op(match (c, eq) {
                    (b'<', false) => "<",
                    (b'<', true) => "<=",
                    (_, false) => ">",
                    (_, true) => ">=",
                })
            }
            b'"' | b'\'' => {
                let (value, next) = lex_string(text, i).map_err(|(at, message)| err(at, message))?;
                i = next;
                Tok::Str(value)
            }
            b'`' => {
                let end = text[i + 1..].find('`').ok_or_else(|| err(i, "unterminated `backquoted` field name".into()))?;
                let name = text[i + 1..i + 1 + end].to_owned();
                i += end + 2;
                Tok::Quoted(name)
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'.' | b'-' | b'+' | b':')) {
                    // A `-` or `+` only continues the token inside a date or
                    // time (`2024-01-01`, `+01:00`), or after an exponent.
                    if matches!(bytes[j], b'-' | b'+')
                        && !(bytes[j - 1].is_ascii_digit() || matches!(bytes[j - 1], b'e' | b'E' | b'Z'))
                    {
                        break;
                    }
                    j += 1;
                }
                let raw = &text[i..j];
                i = j;
                if raw.len() >= 10 && raw.as_bytes()[4] == b'-' && raw.as_bytes()[7] == b'-' {
                    if raw.len() == 10 { Tok::Date(raw.to_owned()) } else { Tok::DateTime(raw.to_owned()) }
                } else {
                    match raw.parse::<f64>() {
                        Ok(n) if n.is_finite() && !raw.starts_with('+') => Tok::Number(n, raw.to_owned()),
                        _ => {
                            return Err(err(start, format!("`{raw}` is not a number, a date (YYYY-MM-DD) or a timestamp")));
                        }
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'_' | b'.')) {
                    j += 1;
                }
                let word = text[i..j].to_owned();
                i = j;
                Tok::Word(word)
            }
            _ => {
                let shown = text[i..].chars().next().unwrap_or('?');
                return Err(err(i, format!("unexpected character `{shown}`")));
            }
        };
        tokens.push(Token { tok, offset: start });
    }
    tokens.push(Token { tok: Tok::End, offset: text.len() });
    Ok(tokens)
}

fn lex_string(text: &str, start: usize) -> std::result::Result<(String, usize), (usize, String)> {
    let quote = text.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        let at = start + 1 + k;
        match c {
            c if c == quote => return Ok((out, at + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\'')) => out.push('\''),
                Some((_, 'u')) => {
                    let rest = &text[at + 2..];
                    let close = rest
                        .find('}')
                        .filter(|_| rest.starts_with('{'))
                        .ok_or((at, "write \\u{XXXX} for a code point".to_owned()))?;
                    let code = u32::from_str_radix(&rest[1..close], 16).ok().and_then(char::from_u32);
                    out.push(code.ok_or((at, "invalid \\u{…} code point".to_owned()))?);
                    for _ in 0..close {
                        chars.next();
                    }
                }
                _ => {
                    return Err((at, "unknown escape: use \\\", \\\\, \\n, \\t or \\u{XXXX}".to_owned()));
                }
            },
            c => out.push(c),
        }
    }
    Err((start, "unterminated string: a closing quote is missing".to_owned()))
}

/// Words that start a non-field condition or are operators; a field with
/// one of these names is written `backquoted`.
const RESERVED: &[&str] = &[
    "and",
    "or",
    "not",
    "everyone",
    "nobody",
    "visited",
    "had",
    "performed",
    "member",
    "contact",
    "in",
    "is",
    "true",
    "false",
    "today",
    "yesterday",
    "tomorrow",
];

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    schema: &'a dyn Schema,
    segment_exists: &'a dyn Fn(SegmentId) -> bool,
}

/// Parses and validates the text form.
pub fn parse(text: &str, schema: &dyn Schema, segment_exists: &dyn Fn(SegmentId) -> bool) -> Result<Criteria> {
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::invalid(format!("criteria text is longer than {MAX_TEXT_LEN} bytes")));
    }
    let tokens = lex(text)?;
    let mut parser = Parser { text, tokens, pos: 0, schema, segment_exists };
    if parser.peek() == &Tok::End {
        return Err(parser.error_here("empty criteria: write a condition, or `everyone` for all contacts"));
    }
    let criteria = parser.expr(0)?;
    if parser.peek() != &Tok::End {
        return Err(parser.expected("AND, OR or the end of the criteria"));
    }
    let criteria = criteria.normalized();
    if criteria.node_count() > super::MAX_NODES {
        return Err(Error::invalid(format!("criteria have more than {} conditions", super::MAX_NODES)));
    }
    Ok(criteria)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].tok
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos].offset
    }

    fn bump(&mut self) -> Tok {
        let tok = self.tokens[self.pos].tok.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn is_word_at(&self, ahead: usize, word: &str) -> bool {
        matches!(self.peek_at(ahead), Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn error_here(&self, message: impl Into<String>) -> Error {
        Error::invalid(message).at(location(self.text, self.offset()))
    }

    fn expected(&self, what: &str) -> Error {
        self.error_here(format!("expected {what}, found {}", self.peek().describe()))
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) { Ok(()) } else { Err(self.expected(&format!("`{word}`"))) }
    }

    /// Every recursive step (a parenthesis, a NOT) goes one level deeper;
    /// the limit keeps hostile input (`not not not …`) off the stack.
    fn check_depth(&self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.error_here(format!("criteria are nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn expr(&mut self, depth: usize) -> Result<Criteria> {
        self.check_depth(depth)?;
        let mut any = vec![self.and_expr(depth)?];
        while self.eat_word("or") {
            any.push(self.and_expr(depth)?);
        }
        Ok(if any.len() == 1 { any.pop().expect("one") } else { Criteria::Or(any) })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Criteria> {
        let mut all = vec![self.unary(depth)?];
        while self.eat_word("and") {
            all.push(self.unary(depth)?);
        }
        Ok(if all.len() == 1 { all.pop().expect("one") } else { Criteria::And(all) })
    }

    fn unary(&mut self, depth: usize) -> Result<Criteria> {
        self.check_depth(depth)?;
        if self.eat_word("not") {
            return Ok(Criteria::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == &Tok::LParen {
            self.bump();
            let inner = self.expr(depth + 1)?;
            if self.peek() != &Tok::RParen {
                return Err(self.expected("`)` or AND / OR"));
            }
            self.bump();
            return Ok(inner);
        }
        if self.eat_word("everyone") {
            return Ok(Criteria::And(Vec::new()));
        }
        if self.eat_word("nobody") {
            return Ok(Criteria::Or(Vec::new()));
        }
        let start = self.offset();
        let leaf = self.condition()?;
        validate_node(leaf, self.schema, self.segment_exists).map_err(|err| {
            if err.location.is_none() || matches!(err.location, Some(Location::Field(_))) {
                Error { location: Some(location(self.text, start)), ..err }
            } else {
                err
            }
        })
    }

    fn condition(&mut self) -> Result<Criteria> {
        if self.eat_word("visited") {
            let url = self.string("a quoted URL pattern such as \"/pricing\" or \"/blog/*\"")?;
            let count = self.times()?;
            let window = self.window()?;
            return Ok(Criteria::Visited { url, count, window });
        }
        if self.eat_word("had") {
            let count = self.count()?.ok_or_else(|| self.expected("a count such as `at least 3`"))?;
            if !(self.eat_word("sessions") || self.eat_word("session")) {
                return Err(self.expected("`sessions`"));
            }
            let window = self.window()?;
            return Ok(Criteria::Sessions { count, window });
        }
        if self.eat_word("performed") {
            let event = self.string("a quoted event name such as \"signup\"")?;
            let count = self.times()?;
            let window = self.window()?;
            return Ok(Criteria::Performed { event, count, window });
        }
        if self.is_word("email")
            && let Tok::Word(next) = self.peek_at(1)
            && let Some(kind) = EmailCondition::parse(&next.to_ascii_lowercase())
        {
            self.bump();
            self.bump();
            let count = self.times()?;
            let window = self.window()?;
            return Ok(Criteria::Email { kind, count, window });
        }
        if self.is_word("member") && self.is_word_at(1, "of") {
            self.bump();
            self.bump();
            return self.member_of();
        }
        if self.is_word("contact") && self.is_word_at(1, "is") {
            self.bump();
            self.bump();
            return if self.eat_word("known") {
                Ok(Criteria::Kind(ContactKind::Known))
            } else if self.eat_word("anonymous") {
                Ok(Criteria::Kind(ContactKind::Anonymous))
            } else {
                Err(self.expected("`known` or `anonymous`"))
            };
        }
        let field = match self.peek().clone() {
            Tok::Word(word) if !RESERVED.contains(&word.to_ascii_lowercase().as_str()) => {
                self.bump();
                word
            }
            Tok::Quoted(name) => {
                self.bump();
                name
            }
            _ => {
                return Err(self.expected(
                    "a condition: a field name, `visited`, `had`, `performed`, `email <event>`, `member of`, `contact is`, `NOT` or `(`",
                ));
            }
        };
        let op = self.field_op(&field)?;
        Ok(Criteria::Field { field, op })
    }

    fn member_of(&mut self) -> Result<Criteria> {
        match self.peek().clone() {
            Tok::Str(name) => {
                let at = self.offset();
                self.bump();
                match self.schema.segment_by_name(&name) {
                    Some(id) => Ok(Criteria::MemberOf(id)),
                    None => Err(Error::invalid(format!("no segment or list named \"{name}\"")).at(location(self.text, at))),
                }
            }
            Tok::Hash => {
                self.bump();
                match self.bump() {
                    Tok::Number(n, _) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => {
                        Ok(Criteria::MemberOf(SegmentId(n as u32)))
                    }
                    _ => Err(self.error_here("expected a segment number after `#`")),
                }
            }
            _ => Err(self.expected("a quoted segment name or `#` and its number")),
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek().clone() {
            Tok::Str(value) => {
                self.bump();
                Ok(value)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn number_u32(&mut self, what: &str) -> Result<u32> {
        match self.peek().clone() {
            Tok::Number(n, _) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => {
                self.bump();
                Ok(n as u32)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// `at least 3` / `>= 3` and friends; `None` when no count follows.
    fn count(&mut self) -> Result<Option<Count>> {
        let op = if let Tok::Op(sym) = self.peek().clone() {
            let op = match sym {
                ">=" => CountOp::AtLeast,
                ">" => CountOp::MoreThan,
                "<=" => CountOp::AtMost,
                "<" => CountOp::FewerThan,
                "=" => CountOp::Exactly,
                _ => return Err(self.expected("a count such as `at least 3`")),
            };
            self.bump();
            op
        } else if self.is_word("at") && self.is_word_at(1, "least") {
            self.bump();
            self.bump();
            CountOp::AtLeast
        } else if self.is_word("at") && self.is_word_at(1, "most") {
            self.bump();
            self.bump();
            CountOp::AtMost
        } else if self.is_word("more") && self.is_word_at(1, "than") {
            self.bump();
            self.bump();
            CountOp::MoreThan
        } else if self.is_word("fewer") && self.is_word_at(1, "than") {
            self.bump();
            self.bump();
            CountOp::FewerThan
        } else if self.eat_word("exactly") {
            CountOp::Exactly
        } else {
            return Ok(None);
        };
        let n = self.number_u32("a whole number")?;
        Ok(Some(Count { op, n }))
    }

    fn times(&mut self) -> Result<Count> {
        match self.count()? {
            Some(count) => {
                if !(self.eat_word("times") || self.eat_word("time")) {
                    return Err(self.expected("`times`"));
                }
                Ok(count)
            }
            None => Ok(Count::AT_LEAST_ONE),
        }
    }

    fn window(&mut self) -> Result<Window> {
        if self.is_word("in") && self.is_word_at(1, "last") {
            self.bump();
            self.bump();
            let days = self.number_u32("a number of days")?;
            if !(self.eat_word("days") || self.eat_word("day")) {
                return Err(self.expected("`days`"));
            }
            return Ok(Window::LastDays(days));
        }
        Ok(Window::Ever)
    }

    fn field_op(&mut self, field: &str) -> Result<FieldOp> {
        if let Tok::Op(sym) = self.peek().clone() {
            self.bump();
            let value = self.value()?;
            return Ok(match sym {
                "=" => FieldOp::Eq(value),
                "!=" => FieldOp::Ne(value),
                "<" => FieldOp::Lt(value),
                "<=" => FieldOp::Le(value),
                ">" => FieldOp::Gt(value),
                _ => FieldOp::Ge(value),
            });
        }
        if self.eat_word("before") {
            return Ok(FieldOp::Lt(self.value()?));
        }
        if self.eat_word("after") {
            return Ok(FieldOp::Gt(self.value()?));
        }
        if self.is_word("in") && self.is_word_at(1, "last") {
            self.bump();
            self.bump();
            let days = self.number_u32("a number of days")?;
            if !(self.eat_word("days") || self.eat_word("day")) {
                return Err(self.expected("`days`"));
            }
            return Ok(FieldOp::InLastDays(days));
        }
        if self.eat_word("in") {
            return Ok(FieldOp::In(self.list()?));
        }
        if self.is_word("not") && self.is_word_at(1, "in") {
            self.bump();
            self.bump();
            return Ok(FieldOp::NotIn(self.list()?));
        }
        if self.is_word("more") && self.is_word_at(1, "than") {
            self.bump();
            self.bump();
            let days = self.number_u32("a number of days")?;
            if !(self.eat_word("days") || self.eat_word("day")) {
                return Err(self.expected("`days`"));
            }
            self.expect_word("ago")?;
            return Ok(FieldOp::MoreThanDaysAgo(days));
        }
        if self.eat_word("contains") {
            return Ok(FieldOp::Contains(self.string("a quoted text")?));
        }
        if self.is_word("starts") && self.is_word_at(1, "with") {
            self.bump();
            self.bump();
            return Ok(FieldOp::StartsWith(self.string("a quoted text")?));
        }
        if self.is_word("ends") && self.is_word_at(1, "with") {
            self.bump();
            self.bump();
            return Ok(FieldOp::EndsWith(self.string("a quoted text")?));
        }
        if self.eat_word("is") {
            let negated = self.eat_word("not");
            if self.eat_word("empty") || self.eat_word("null") {
                return Ok(if negated { FieldOp::IsNotEmpty } else { FieldOp::IsEmpty });
            }
            return Err(self.expected("`empty`"));
        }
        if self.eat_word("between") {
            let low = self.value()?;
            self.expect_word("and")?;
            let high = self.value()?;
            return Ok(FieldOp::Between(low, high));
        }
        Err(self.expected(&format!(
            "an operator after `{field}`: =, !=, <, <=, >, >=, in, not in, contains, starts with, ends with, is empty, between, before, after, in last N days or more than N days ago"
        )))
    }

    fn list(&mut self) -> Result<Vec<Operand>> {
        if self.peek() != &Tok::LBracket {
            return Err(self.expected("`[` to start a list such as [\"FR\", \"DE\"]"));
        }
        self.bump();
        let mut values = Vec::new();
        if self.peek() == &Tok::RBracket {
            return Err(self.error_here("the list is empty: give at least one value"));
        }
        loop {
            values.push(self.value()?);
            match self.bump() {
                Tok::Comma => continue,
                Tok::RBracket => break,
                _ => {
                    self.pos -= 1;
                    return Err(self.expected("`,` or `]`"));
                }
            }
        }
        Ok(values)
    }

    fn value(&mut self) -> Result<Operand> {
        let at = self.offset();
        let tok = self.peek().clone();
        let value = match tok {
            Tok::Str(text) => Operand::Text(text),
            Tok::Number(n, _) => {
                let relative = if self.is_word_at(1, "days") || self.is_word_at(1, "day") {
                    if self.is_word_at(2, "ago") {
                        Some(-1)
                    } else if self.is_word_at(2, "from") && self.is_word_at(3, "now") {
                        Some(1)
                    } else {
                        None
                    }
                } else {
                    None
                };
                if let Some(sign) = relative {
                    if n.fract() != 0.0 || n < 0.0 || n > f64::from(super::MAX_DAYS) {
                        return Err(self.error_here("a relative date needs a whole number of days"));
                    }
                    let words = if sign < 0 { 3 } else { 4 };
                    for _ in 0..words {
                        self.bump();
                    }
                    return Ok(Operand::DaysFromToday(sign * n as i32));
                }
                Operand::Number(n)
            }
            Tok::Date(raw) => Operand::Date(parse_date(&raw).map_err(|e| e.at(location(self.text, at)))?),
            Tok::DateTime(raw) => Operand::DateTime(parse_instant(&raw).map_err(|e| e.at(location(self.text, at)))?),
            Tok::Word(word) => match word.to_ascii_lowercase().as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "today" => Operand::DaysFromToday(0),
                "yesterday" => Operand::DaysFromToday(-1),
                "tomorrow" => Operand::DaysFromToday(1),
                _ => {
                    return Err(self.error_here(format!(
                        "expected a value, found `{word}`: quote text as \"{word}\", or write a number, true, false, a date (2024-01-31), today, yesterday, tomorrow or `N days ago`"
                    )));
                }
            },
            _ => {
                return Err(self.expected("a value (\"text\", a number, true/false, a date, today, `N days ago`)"));
            }
        };
        self.bump();
        Ok(value)
    }
}

/// Writes the canonical text form. Segment references are written by name
/// when `segment_name` knows it, as `#id` otherwise.
pub fn print(criteria: &Criteria, segment_name: &dyn Fn(SegmentId) -> Option<String>) -> String {
    let mut out = String::new();
    print_node(criteria, segment_name, 0, &mut out);
    out
}

/// Precedence: 0 = OR level, 1 = AND level, 2 = operand of NOT.
fn print_node(node: &Criteria, names: &dyn Fn(SegmentId) -> Option<String>, level: u8, out: &mut String) {
    match node {
        Criteria::And(children) if children.is_empty() => out.push_str("everyone"),
        Criteria::Or(children) if children.is_empty() => out.push_str("nobody"),
        Criteria::And(children) => {
            let wrap = level >= 2;
            if wrap {
                out.push('(');
            }
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push_str(" AND ");
                }
                print_node(child, names, 1, out);
            }
            if wrap {
                out.push(')');
            }
        }
        Criteria::Or(children) => {
            let wrap = level >= 1;
            if wrap {
                out.push('(');
            }
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    out.push_str(" OR ");
                }
                print_node(child, names, 0, out);
            }
            if wrap {
                out.push(')');
            }
        }
        Criteria::Not(inner) => {
            out.push_str("NOT ");
            print_node(inner, names, 2, out);
        }
        Criteria::Field { field, op } => {
            print_field_name(field, out);
            print_op(op, out);
        }
        Criteria::Visited { url, count, window } => {
            out.push_str("visited ");
            print_string(url, out);
            print_times(*count, out);
            print_window(*window, out);
        }
        Criteria::Sessions { count, window } => {
            let _ = write!(out, "had {} {} {}", count.op.words(), count.n, if count.n == 1 { "session" } else { "sessions" });
            print_window(*window, out);
        }
        Criteria::Performed { event, count, window } => {
            out.push_str("performed ");
            print_string(event, out);
            print_times(*count, out);
            print_window(*window, out);
        }
        Criteria::Email { kind, count, window } => {
            let _ = write!(out, "email {}", kind.key());
            print_times(*count, out);
            print_window(*window, out);
        }
        Criteria::MemberOf(id) => match names(*id) {
            Some(name) => {
                out.push_str("member of ");
                print_string(&name, out);
            }
            None => {
                let _ = write!(out, "member of #{}", id.0);
            }
        },
        Criteria::Kind(ContactKind::Known) => out.push_str("contact is known"),
        Criteria::Kind(ContactKind::Anonymous) => out.push_str("contact is anonymous"),
    }
}

fn print_field_name(field: &str, out: &mut String) {
    let plain = field.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !RESERVED.contains(&field.to_ascii_lowercase().as_str());
    if plain {
        out.push_str(field);
    } else {
        let _ = write!(out, "`{field}`");
    }
}

fn print_times(count: Count, out: &mut String) {
    if count != Count::AT_LEAST_ONE {
        let _ = write!(out, " {} {} {}", count.op.words(), count.n, if count.n == 1 { "time" } else { "times" });
    }
}

fn print_window(window: Window, out: &mut String) {
    if let Window::LastDays(days) = window {
        let _ = write!(out, " in last {days} {}", if days == 1 { "day" } else { "days" });
    }
}

fn is_datelike(operand: &Operand) -> bool {
    matches!(operand, Operand::Date(_) | Operand::DateTime(_) | Operand::DaysFromToday(_))
}

fn print_op(op: &FieldOp, out: &mut String) {
    match op {
        FieldOp::Eq(v) => print_binary(" = ", v, out),
        FieldOp::Ne(v) => print_binary(" != ", v, out),
        FieldOp::Lt(v) if is_datelike(v) => print_binary(" before ", v, out),
        FieldOp::Gt(v) if is_datelike(v) => print_binary(" after ", v, out),
        FieldOp::Lt(v) => print_binary(" < ", v, out),
        FieldOp::Le(v) => print_binary(" <= ", v, out),
        FieldOp::Gt(v) => print_binary(" > ", v, out),
        FieldOp::Ge(v) => print_binary(" >= ", v, out),
        FieldOp::Between(low, high) => {
            out.push_str(" between ");
            print_value(low, out);
            out.push_str(" and ");
            print_value(high, out);
        }
        FieldOp::In(values) => {
            out.push_str(" in ");
            print_list(values, out);
        }
        FieldOp::NotIn(values) => {
            out.push_str(" not in ");
            print_list(values, out);
        }
        FieldOp::Contains(text) => {
            out.push_str(" contains ");
            print_string(text, out);
        }
        FieldOp::StartsWith(text) => {
            out.push_str(" starts with ");
            print_string(text, out);
        }
        FieldOp::EndsWith(text) => {
            out.push_str(" ends with ");
            print_string(text, out);
        }
        FieldOp::IsEmpty => out.push_str(" is empty"),
        FieldOp::IsNotEmpty => out.push_str(" is not empty"),
        FieldOp::InLastDays(days) => {
            let _ = write!(out, " in last {days} {}", if *days == 1 { "day" } else { "days" });
        }
        FieldOp::MoreThanDaysAgo(days) => {
            let _ = write!(out, " more than {days} {} ago", if *days == 1 { "day" } else { "days" });
        }
    }
}

fn print_binary(symbol: &str, value: &Operand, out: &mut String) {
    out.push_str(symbol);
    print_value(value, out);
}

fn print_list(values: &[Operand], out: &mut String) {
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        print_value(value, out);
    }
    out.push(']');
}

fn print_value(value: &Operand, out: &mut String) {
    match value {
        Operand::Text(text) => print_string(text, out),
        Operand::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Operand::Bool(flag) => {
            let _ = write!(out, "{flag}");
        }
        Operand::Date(date) => {
            let _ = write!(out, "{date}");
        }
        Operand::DateTime(at) => out.push_str(&format_instant(*at)),
        Operand::DaysFromToday(0) => out.push_str("today"),
        Operand::DaysFromToday(-1) => out.push_str("yesterday"),
        Operand::DaysFromToday(1) => out.push_str("tomorrow"),
        Operand::DaysFromToday(days) if *days < 0 => {
            let _ = write!(out, "{} days ago", -days);
        }
        Operand::DaysFromToday(days) => {
            let _ = write!(out, "{days} days from now");
        }
    }
}

fn print_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AttrType;

    struct NoSchema;

    impl Schema for NoSchema {
        fn attribute_type(&self, _: &str) -> Option<AttrType> {
            None
        }
        fn attribute_names(&self) -> Vec<String> {
            Vec::new()
        }
        fn stages(&self) -> &[String] {
            &[]
        }
        fn segment_by_name(&self, _: &str) -> Option<SegmentId> {
            None
        }
        fn segment_name(&self, _: SegmentId) -> Option<String> {
            None
        }
    }

    fn parse_text(text: &str) -> Result<Criteria> {
        parse(text, &NoSchema, &|_| false)
    }

    #[test]
    fn nesting_is_bounded_for_every_recursive_form() {
        // Each of these recursed without a bound once (a chain of NOTs under
        // the text-length cap overflowed the server's stack).
        let deep = MAX_DEPTH + 1;
        let hostile = [
            format!("{}contact is known", "not ".repeat(4_500)),
            format!("{}contact is known", "not ".repeat(deep)),
            format!("{}contact is known{}", "(".repeat(deep), ")".repeat(deep)),
            format!("{}contact is known{}", "not (".repeat(deep / 2 + 1), ")".repeat(deep / 2 + 1)),
        ];
        for text in &hostile {
            let err = parse_text(text).expect_err("too deep");
            assert!(err.to_string().contains("nested more than 64 levels"), "{err}");
        }
        // Right at the limit still parses, and prints back.
        let ok = format!("{}contact is known", "not ".repeat(MAX_DEPTH));
        let parsed = parse_text(&ok).expect("64 NOTs are allowed");
        assert_eq!(parse_text(&print(&parsed, &|_| None)).expect("round trip"), parsed);
    }

    #[test]
    fn json_nesting_is_bounded_too() {
        let mut value = serde_json::json!({"kind": "known"});
        for _ in 0..=MAX_DEPTH + 1 {
            value = serde_json::json!({ "not": value });
        }
        let err = crate::criteria::json::from_json(&value, &NoSchema, &|_| false).expect_err("too deep");
        assert!(err.to_string().contains("nested more than 64 levels"), "{err}");
    }
}
