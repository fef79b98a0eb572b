//! Go's `text/template/parse/parse.go`: items to a tree, with Go's parse errors.
//!
//! Functions and variables are checked while parsing, as Go does, so an unknown function or an
//! undefined variable fails at `NewTemplate`, not when a name is generated.

use super::lexer::{Item, ItemType};
use super::node::{arg_string, new_number, Action, Arg, Branch, Command, Node, Pipe};
use super::value::signature;
use super::{line_col, MAX_CONTROL_DEPTH, MAX_PAREN_DEPTH};
use crate::gocompat::quote::{go_quote, unquote};

/// A parse error: where (byte offset) and Go's message.
pub(super) struct ParseError {
    pub(super) pos: usize,
    pub(super) msg: String,
}

type ParseResult<T> = Result<T, ParseError>;

/// What a `{{ }}` produced: a node, or the `{{end}}`/`{{else}}` closing a list.
enum Parsed {
    Node(Node),
    End,
    Else,
}

impl Parsed {
    fn describe(&self) -> &'static str {
        match self {
            Parsed::End => "{{end}}",
            Parsed::Else => "{{else}}",
            Parsed::Node(_) => "node",
        }
    }
}

/// Go's `Tree` while parsing.
pub(super) struct Parser<'s> {
    src: &'s str,
    items: Vec<Item>,
    /// Next item to read.
    i: usize,
    /// Furthest item read: Go reports parse errors at its most recently lexed token.
    max_read: usize,
    /// Variables in scope (Go's `t.vars`).
    vars: Vec<String>,
    /// Line of the `{{` of the action being parsed, for lexer errors in multi-line actions.
    action_line: Option<usize>,
    paren_depth: usize,
    control_depth: usize,
}

impl<'s> Parser<'s> {
    pub(super) fn new(src: &'s str, items: Vec<Item>) -> Self {
        Parser {
            src,
            items,
            i: 0,
            max_read: 0,
            vars: vec!["$".to_string()],
            action_line: None,
            paren_depth: 0,
            control_depth: 0,
        }
    }

    fn item_at(&self, i: usize) -> Item {
        self.items.get(i).cloned().unwrap_or(Item {
            typ: ItemType::Eof,
            pos: self.src.len(),
            val: String::new(),
        })
    }

    fn next(&mut self) -> Item {
        let item = self.item_at(self.i);
        self.max_read = self.max_read.max(self.i);
        self.i += 1;
        item
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&mut self) -> Item {
        self.max_read = self.max_read.max(self.i);
        self.item_at(self.i)
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let item = self.next();
            if item.typ != ItemType::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> ParseResult<T> {
        Err(ParseError {
            pos: self.item_at(self.max_read).pos,
            msg: msg.into(),
        })
    }

    fn unexpected<T>(&self, item: &Item, context: &str) -> ParseResult<T> {
        if item.typ == ItemType::Error {
            let mut extra = String::new();
            if let Some(action_line) = self.action_line {
                if action_line != line_col(self.src, item.pos).0 {
                    extra = format!(" in action started at template:{action_line}");
                    if item.val.ends_with(" action") {
                        extra = extra[" in action".len()..].to_string();
                    }
                }
            }
            return self.errorf(format!("{item}{extra}"));
        }
        self.errorf(format!("unexpected {item} in {context}"))
    }

    pub(super) fn parse(&mut self) -> ParseResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().typ == ItemType::Define {
                    return self.errorf("{{define}} is not supported by this engine");
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                other => return self.errorf(format!("unexpected {}", other.describe())),
            }
        }
        Ok(root)
    }

    /// Items up to the `{{end}}` or `{{else}}` that closes them.
    fn item_list(&mut self) -> ParseResult<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                closing => return Ok((list, closing)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> ParseResult<Parsed> {
        let item = self.next_non_space();
        match item.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text(item.val.into_bytes()))),
            ItemType::LeftDelim => {
                self.action_line = Some(line_col(self.src, item.pos).0);
                let result = self.action();
                self.action_line = None;
                result
            }
            _ => self.unexpected(&item, "input"),
        }
    }

    fn action(&mut self) -> ParseResult<Parsed> {
        let item = self.next_non_space();
        match item.typ {
            ItemType::Block => self.errorf("{{block}} is not supported by this engine"),
            ItemType::Template => self.errorf("{{template}} is not supported by this engine"),
            ItemType::Range => self.errorf("{{range}} is not supported by this engine"),
            ItemType::Break | ItemType::Continue => {
                let word = if item.typ == ItemType::Break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, word);
                }
                self.errorf(format!("{word} outside {{{{range}}}}"))
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                if matches!(peek.typ, ItemType::If | ItemType::With) {
                    return Ok(Parsed::Else);
                }
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, "else");
                }
                Ok(Parsed::Else)
            }
            ItemType::End => {
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, "end");
                }
                Ok(Parsed::End)
            }
            ItemType::If => Ok(Parsed::Node(Node::If(self.parse_control("if")?))),
            ItemType::With => Ok(Parsed::Node(Node::With(self.parse_control("with")?))),
            _ => {
                self.backup();
                let pos = self.peek().pos;
                let pipe = self.pipeline("command", ItemType::RightDelim)?;
                Ok(Parsed::Node(Node::Action(Action { pos, pipe })))
            }
        }
    }

    fn parse_control(&mut self, context: &'static str) -> ParseResult<Branch> {
        if self.control_depth >= MAX_CONTROL_DEPTH {
            return self.errorf("max nesting depth exceeded");
        }
        self.control_depth += 1;
        let mark = self.vars.len();
        let result = self.parse_control_body(context);
        self.vars.truncate(mark);
        self.control_depth -= 1;
        result
    }

    fn parse_control_body(&mut self, context: &'static str) -> ParseResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        let (list, next) = self.item_list()?;
        let mut else_list = None;
        if let Parsed::Else = next {
            // `{{else if …}}` / `{{else with …}}` is `{{else}}{{if …}}…{{end}}{{end}}` with
            // the inner `{{end}}` serving both.
            let peek = self.peek().typ;
            if context == "if" && peek == ItemType::If {
                self.next();
                else_list = Some(vec![Node::If(self.parse_control("if")?)]);
            } else if context == "with" && peek == ItemType::With {
                self.next();
                else_list = Some(vec![Node::With(self.parse_control("with")?)]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Parsed::End) {
                    return self.errorf(format!("expected end; found {}", next.describe()));
                }
                else_list = Some(list);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> ParseResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        let var = self.peek_non_space();
        if var.typ == ItemType::Variable {
            let save = self.i;
            self.next();
            let next = self.peek_non_space();
            if matches!(next.typ, ItemType::Assign | ItemType::Declare) {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push(var.val.clone());
                self.vars.push(var.val);
            } else if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                self.vars.push(var.val);
                return self.errorf(format!("too many declarations in {context}"));
            } else {
                self.i = save;
            }
        }
        loop {
            let item = self.next_non_space();
            if item.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match item.typ {
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&item, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> ParseResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number(_)
                        | Arg::Str { .. }
                )
            ) {
                return self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> ParseResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let item = self.next();
            match item.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&item, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> ParseResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let item = self.next();
            fields.push(item.val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool { .. }
            | Arg::Str { .. }
            | Arg::Number(_)
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return self.errorf(format!(
                    "unexpected . after term {}",
                    go_quote(&arg_string(&node))
                ));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> ParseResult<Option<Arg>> {
        let item = self.next_non_space();
        let pos = item.pos;
        Ok(Some(match item.typ {
            ItemType::Identifier => {
                if signature(&item.val).is_none() {
                    return self.errorf(format!("function {} not defined", go_quote(&item.val)));
                }
                Arg::Identifier {
                    pos,
                    name: item.val,
                }
            }
            ItemType::Dot => Arg::Dot { pos },
            ItemType::Nil => Arg::Nil { pos },
            ItemType::Variable => {
                if !self.vars.contains(&item.val) {
                    return self.errorf(format!("undefined variable {}", go_quote(&item.val)));
                }
                Arg::Variable {
                    pos,
                    idents: vec![item.val],
                }
            }
            ItemType::Field => Arg::Field {
                pos,
                idents: vec![item.val[1..].to_string()],
            },
            ItemType::Bool => Arg::Bool {
                pos,
                value: item.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match new_number(pos, &item.val, item.typ) {
                    Ok(n) => Arg::Number(Box::new(n)),
                    Err(msg) => return self.errorf(msg),
                }
            }
            ItemType::LeftParen => {
                if self.paren_depth >= MAX_PAREN_DEPTH {
                    return self.errorf("max expression depth exceeded");
                }
                self.paren_depth += 1;
                let pipe = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.paren_depth -= 1;
                Arg::Pipe(Box::new(pipe?))
            }
            ItemType::String | ItemType::RawString => match unquote(&item.val) {
                Some(text) => Arg::Str {
                    pos,
                    quoted: item.val,
                    text,
                },
                None => return self.errorf("invalid syntax"),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}
