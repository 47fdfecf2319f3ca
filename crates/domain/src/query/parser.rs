//! Syntax: text to [`Query`] and back.

use super::lexer::{tokenize, Tok, Token};
use super::{did_you_mean, fold, QueryError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub filter: Option<Expr>,
    /// Field names (as written, with their column) and whether descending.
    pub order: Vec<(String, usize, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub field: String,
    pub column: usize,
    pub op: Operator,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
}

impl Operator {
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Contains => "~",
            Operator::NotContains => "!~",
            Operator::In => "IN",
            Operator::NotIn => "NOT IN",
            Operator::IsEmpty => "IS EMPTY",
            Operator::IsNotEmpty => "IS NOT EMPTY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A word or a quoted string.
    Text { text: String, column: usize },
    /// A function call: `now()`, `startOfDay(-7d)`, `currentUser()`.
    Call { name: String, args: Vec<Value>, column: usize },
}

impl Value {
    pub fn column(&self) -> usize {
        match self {
            Value::Text { column, .. } | Value::Call { column, .. } => *column,
        }
    }
}

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"];

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// NOT and parentheses open around the current position.
    depth: usize,
    /// Conditions read so far.
    clauses: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if is_keyword(w, keyword))
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), QueryError> {
        if self.at_keyword(keyword) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{}`", keyword.to_uppercase())))
        }
    }

    fn unexpected(&self, expected: &str) -> QueryError {
        let token = self.peek();
        let found = match &token.tok {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Op(o) => format!("`{o}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "the end of the query".into(),
        };
        QueryError::new(format!("expected {expected}, found {found}"), token.column)
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let filter =
            if matches!(self.peek().tok, Tok::End) || self.at_keyword("order") { None } else { Some(self.or()?) };
        let mut order = Vec::new();
        if self.at_keyword("order") {
            self.next();
            self.expect_keyword("by")?;
            loop {
                let token = self.next();
                let Tok::Word(field) = token.tok else {
                    self.pos -= 1;
                    return Err(self.unexpected("a field to sort by"));
                };
                let descending = if self.at_keyword("desc") {
                    self.next();
                    true
                } else {
                    if self.at_keyword("asc") {
                        self.next();
                    }
                    false
                };
                order.push((field, token.column, descending));
                if matches!(self.peek().tok, Tok::Comma) {
                    self.next();
                } else {
                    break;
                }
            }
        }
        if !matches!(self.peek().tok, Tok::End) {
            return Err(self.unexpected("`AND`, `OR`, `ORDER BY` or the end of the query"));
        }
        Ok(Query { filter, order })
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.at_keyword("or") {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(flatten(items, true)) })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary()?];
        while self.at_keyword("and") {
            self.next();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(flatten(items, false)) })
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.at_keyword("not") || matches!(self.peek().tok, Tok::LParen) {
            // Each level is a level of the SQL it compiles to, and SQLite
            // refuses expressions nested deeper than a few hundred.
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError::new(
                    format!("the query is nested more than {MAX_DEPTH} levels deep (NOT, parentheses)"),
                    self.peek().column,
                ));
            }
            let inner = if self.at_keyword("not") {
                self.next();
                Expr::Not(Box::new(self.unary()?))
            } else {
                self.next();
                let inner = self.or()?;
                if !matches!(self.peek().tok, Tok::RParen) {
                    return Err(self.unexpected("`)`"));
                }
                self.next();
                inner
            };
            self.depth -= 1;
            return Ok(inner);
        }
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(QueryError::new(
                format!("the query has more than {MAX_CLAUSES} conditions"),
                self.peek().column,
            ));
        }
        self.clause().map(Expr::Clause)
    }

    fn clause(&mut self) -> Result<Clause, QueryError> {
        let token = self.peek().clone();
        let field = match &token.tok {
            Tok::Word(w) if !KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => w.clone(),
            _ => return Err(self.unexpected("a field name")),
        };
        self.next();
        let op_token = self.peek().clone();
        let op = match &op_token.tok {
            Tok::Op(op) => {
                self.next();
                match *op {
                    "=" => Operator::Eq,
                    "!=" => Operator::Ne,
                    "<" => Operator::Lt,
                    "<=" => Operator::Le,
                    ">" => Operator::Gt,
                    ">=" => Operator::Ge,
                    "~" => Operator::Contains,
                    _ => Operator::NotContains,
                }
            }
            Tok::Word(w) if is_keyword(w, "in") => {
                self.next();
                Operator::In
            }
            Tok::Word(w) if is_keyword(w, "not") => {
                self.next();
                self.expect_keyword("in")?;
                Operator::NotIn
            }
            Tok::Word(w) if is_keyword(w, "is") => {
                self.next();
                let negated = self.at_keyword("not");
                if negated {
                    self.next();
                }
                if self.at_keyword("empty") || self.at_keyword("null") {
                    self.next();
                } else {
                    return Err(self.unexpected("`EMPTY`"));
                }
                return Ok(Clause {
                    field,
                    column: token.column,
                    op: if negated { Operator::IsNotEmpty } else { Operator::IsEmpty },
                    values: Vec::new(),
                });
            }
            Tok::Word(w) => {
                let hint =
                    did_you_mean(w, ["in", "is", "not"]).map(|k| format!("did you mean `{}`?", k.to_uppercase()));
                return Err(self.unexpected("an operator (=, !=, <, <=, >, >=, ~, IN, NOT IN, IS EMPTY)").hint(hint));
            }
            _ => return Err(self.unexpected("an operator (=, !=, <, <=, >, >=, ~, IN, NOT IN, IS EMPTY)")),
        };
        let values = if matches!(op, Operator::In | Operator::NotIn) {
            if !matches!(self.peek().tok, Tok::LParen) {
                return Err(self.unexpected("`(` and a list of values"));
            }
            self.next();
            let values = self.values()?;
            if !matches!(self.peek().tok, Tok::RParen) {
                return Err(self.unexpected("`,` or `)`"));
            }
            self.next();
            values
        } else {
            vec![self.value()?]
        };
        Ok(Clause { field, column: token.column, op, values })
    }

    fn values(&mut self) -> Result<Vec<Value>, QueryError> {
        let mut values = vec![self.value()?];
        while matches!(self.peek().tok, Tok::Comma) {
            self.next();
            values.push(self.value()?);
        }
        Ok(values)
    }

    fn value(&mut self) -> Result<Value, QueryError> {
        let token = self.peek().clone();
        match token.tok {
            Tok::Str(text) => {
                self.next();
                Ok(Value::Text { text, column: token.column })
            }
            Tok::Word(word) if !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) => {
                self.next();
                if matches!(self.peek().tok, Tok::LParen) {
                    self.next();
                    let args = if matches!(self.peek().tok, Tok::RParen) { Vec::new() } else { self.values()? };
                    if !matches!(self.peek().tok, Tok::RParen) {
                        return Err(self.unexpected("`)`"));
                    }
                    self.next();
                    Ok(Value::Call { name: word, args, column: token.column })
                } else {
                    Ok(Value::Text { text: word, column: token.column })
                }
            }
            _ => Err(self.unexpected("a value")),
        }
    }
}

fn flatten(items: Vec<Expr>, or: bool) -> Vec<Expr> {
    items
        .into_iter()
        .flat_map(|e| match e {
            Expr::Or(inner) if or => inner,
            Expr::And(inner) if !or => inner,
            other => vec![other],
        })
        .collect()
}

/// Levels of NOT and parentheses a query may nest.
pub const MAX_DEPTH: usize = 20;
/// Conditions a query may hold.
pub const MAX_CLAUSES: usize = 200;

/// Parses query text. An empty text is a query with no condition.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    if input.chars().count() > 4000 {
        return Err(QueryError::new("the query is longer than 4000 characters", 4001));
    }
    let tokens = tokenize(input)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0, clauses: 0 };
    parser.query()
}

fn print_value(v: &Value, out: &mut String) {
    match v {
        Value::Text { text, .. } => {
            let bare = !text.is_empty()
                && text.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+' | '/' | ':'))
                && !KEYWORDS.contains(&fold(text).as_str());
            if bare {
                out.push_str(text);
            } else {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
        Value::Call { name, args, .. } => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_value(a, out);
            }
            out.push(')');
        }
    }
}

fn print_expr(e: &Expr, out: &mut String, parent_and: bool) {
    match e {
        Expr::And(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" AND ");
                }
                print_expr(item, out, true);
            }
        }
        Expr::Or(items) => {
            if parent_and {
                out.push('(');
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" OR ");
                }
                print_expr(item, out, false);
            }
            if parent_and {
                out.push(')');
            }
        }
        Expr::Not(inner) => {
            out.push_str("NOT ");
            match inner.as_ref() {
                Expr::Clause(_) | Expr::Not(_) => print_expr(inner, out, true),
                _ => {
                    out.push('(');
                    print_expr(inner, out, false);
                    out.push(')');
                }
            }
        }
        Expr::Clause(c) => {
            out.push_str(&c.field);
            out.push(' ');
            out.push_str(c.op.symbol());
            match c.op {
                Operator::IsEmpty | Operator::IsNotEmpty => {}
                Operator::In | Operator::NotIn => {
                    out.push_str(" (");
                    for (i, v) in c.values.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        print_value(v, out);
                    }
                    out.push(')');
                }
                _ => {
                    out.push(' ');
                    if let Some(v) = c.values.first() {
                        print_value(v, out);
                    }
                }
            }
        }
    }
}

/// Canonical text of a query: what the filter form writes, and what
/// parsing reads back to the same query.
pub fn print(q: &Query) -> String {
    let mut out = String::new();
    if let Some(filter) = &q.filter {
        print_expr(filter, &mut out, false);
    }
    if !q.order.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("ORDER BY ");
        let items: Vec<String> =
            q.order.iter().map(|(f, _, desc)| format!("{f}{}", if *desc { " DESC" } else { "" })).collect();
        out.push_str(&items.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same query with every position set to zero, to compare shapes.
    fn shape(q: &Query) -> Query {
        fn value(v: &Value) -> Value {
            match v {
                Value::Text { text, .. } => Value::Text { text: text.clone(), column: 0 },
                Value::Call { name, args, .. } => {
                    Value::Call { name: name.clone(), args: args.iter().map(value).collect(), column: 0 }
                }
            }
        }
        fn expr(e: &Expr) -> Expr {
            match e {
                Expr::And(i) => Expr::And(i.iter().map(expr).collect()),
                Expr::Or(i) => Expr::Or(i.iter().map(expr).collect()),
                Expr::Not(i) => Expr::Not(Box::new(expr(i))),
                Expr::Clause(c) => Expr::Clause(Clause {
                    field: c.field.clone(),
                    column: 0,
                    op: c.op,
                    values: c.values.iter().map(value).collect(),
                }),
            }
        }
        Query {
            filter: q.filter.as_ref().map(expr),
            order: q.order.iter().map(|(f, _, d)| (f.clone(), 0, *d)).collect(),
        }
    }

    #[test]
    fn deep_negations_and_nesting_are_refused_with_a_position() {
        let deep = format!("{}status = new", "NOT ".repeat(400));
        let error = parse(&deep).unwrap_err();
        assert!(error.message.contains("nested"), "{error:?}");
        assert!(error.column > 1);
        let parens = format!("{}status = new{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&parens).is_err());
        let many = vec!["key = 1"; 300].join(" OR ");
        assert!(parse(&many).unwrap_err().message.contains("conditions"));
        assert!(parse(&format!("{}status = new", "NOT ".repeat(10))).is_ok());
    }

    #[test]
    fn jira_style_queries_parse() {
        let q =
            parse(r#"type = anomalie AND status != résolue AND created >= startOfWeek(-1) ORDER BY updated DESC, key"#)
                .unwrap();
        assert!(matches!(&q.filter, Some(Expr::And(items)) if items.len() == 3));
        assert_eq!(q.order, vec![("updated".into(), 79, true), ("key".into(), 93, false)]);
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let q = parse("a = 1 OR b = 2 AND c = 3").unwrap();
        let Some(Expr::Or(items)) = q.filter else { panic!() };
        assert!(matches!(items[1], Expr::And(_)));
        assert_eq!(print(&parse("(a = 1 OR b = 2) AND c = 3").unwrap()), "(a = 1 OR b = 2) AND c = 3");
    }

    #[test]
    fn in_lists_empty_checks_and_negations_parse() {
        let text = r#"priority IN (high, critical) AND assignee IS EMPTY AND NOT (tier = technical OR statut NOT IN ("en attente du demandeur"))"#;
        let q = parse(text).unwrap();
        assert_eq!(print(&q), text);
        assert_eq!(print(&parse("assignee is not null").unwrap()), "assignee IS NOT EMPTY");
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = parse("status = new AND").unwrap_err();
        assert_eq!((e.column, e.message.as_str()), (17, "expected a field name, found the end of the query"));
        let e = parse("status new").unwrap_err();
        assert_eq!(e.column, 8);
        let e = parse("status inn (new)").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `IN`?"));
        let e = parse("priority IN (high").unwrap_err();
        assert!(e.message.starts_with("expected `,` or `)`"), "{e}");
    }

    #[test]
    fn empty_query_has_no_condition() {
        assert_eq!(parse("  ").unwrap(), Query { filter: None, order: vec![] });
        assert_eq!(parse("ORDER BY created").unwrap().order.len(), 1);
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let text =
            "[a-zA-Zéè0-9 _\"\\\\-]{1,12}".prop_map(|text| Value::Text { text: text.trim().to_owned(), column: 0 });
        prop_oneof![
            text.prop_filter("non-empty", |v| matches!(v, Value::Text { text, .. } if !text.is_empty())),
            (
                "[a-z]{1,8}".prop_filter("not a keyword", |n| !KEYWORDS.contains(&n.as_str())),
                proptest::collection::vec("-?[0-9]{1,2}[dhm]", 0..2)
            )
                .prop_map(|(name, args)| Value::Call {
                    name,
                    args: args.into_iter().map(|a| Value::Text { text: a, column: 0 }).collect(),
                    column: 0
                }),
        ]
    }

    fn arb_clause() -> impl Strategy<Value = Expr> {
        let ops = prop_oneof![
            Just(Operator::Eq),
            Just(Operator::Ne),
            Just(Operator::Lt),
            Just(Operator::Ge),
            Just(Operator::Contains),
            Just(Operator::In),
            Just(Operator::NotIn),
            Just(Operator::IsEmpty),
        ];
        (
            "[a-z][a-z_]{0,8}".prop_filter("not a keyword", |f| !KEYWORDS.contains(&f.as_str())),
            ops,
            proptest::collection::vec(arb_value(), 1..3),
        )
            .prop_map(|(field, op, values)| {
                let values = match op {
                    Operator::IsEmpty | Operator::IsNotEmpty => Vec::new(),
                    Operator::In | Operator::NotIn => values,
                    _ => values.into_iter().take(1).collect(),
                };
                Expr::Clause(Clause { field, column: 0, op, values })
            })
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        arb_clause().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(|i| Expr::And(flatten(i, false))),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(|i| Expr::Or(flatten(i, true))),
                inner.prop_map(|e| Expr::Not(Box::new(e))),
            ]
        })
    }

    proptest! {
        #[test]
        fn printing_then_parsing_gives_back_the_same_query(filter in proptest::option::of(arb_expr()), desc in any::<bool>()) {
            let q = Query { filter, order: vec![("updated".into(), 0, desc)] };
            let text = print(&q);
            let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(shape(&back), q, "{}", text);
        }

        #[test]
        fn any_text_parses_or_fails_cleanly(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }

        #[test]
        fn query_like_text_never_panics(text in "[a-z =!<>~(),\"'-]{0,60}(AND|OR|NOT|IN|IS|EMPTY|ORDER BY)?[a-z0-9 =()\"]{0,20}") {
            if let Ok(q) = parse(&text) {
                let printed = print(&q);
                prop_assert!(parse(&printed).is_ok(), "{} -> {}", text, printed);
            }
        }
    }
}
