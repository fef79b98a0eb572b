//! Go's `text/template/parse/node.go`: the parse tree, how it prints in error messages, and
//! which Go types a number literal fits.

use super::lexer::{ItemType, LEFT_DELIM, RIGHT_DELIM};
use crate::gocompat::quote::{go_quote, unquote_char};
use crate::gocompat::strconv::{parse_float, parse_int, parse_uint};

/// A node of the tree (Go's `TextNode`, `ActionNode`, `IfNode`, `WithNode`).
#[derive(Clone, Debug)]
pub(super) enum Node {
    Text(Vec<u8>),
    Action(Action),
    If(Branch),
    With(Branch),
}

/// `{{ pipeline }}`.
#[derive(Clone, Debug)]
pub(super) struct Action {
    pub(super) pos: usize,
    pub(super) pipe: Pipe,
}

/// `if` or `with`: the pipeline, the body and the optional `else` body.
#[derive(Clone, Debug)]
pub(super) struct Branch {
    pub(super) pos: usize,
    pub(super) pipe: Pipe,
    pub(super) list: Vec<Node>,
    pub(super) else_list: Option<Vec<Node>>,
}

/// A pipeline, with the variables it declares or assigns (Go's `PipeNode`).
#[derive(Clone, Debug)]
pub(super) struct Pipe {
    pub(super) pos: usize,
    pub(super) is_assign: bool,
    pub(super) decl: Vec<String>,
    pub(super) cmds: Vec<Command>,
}

/// One stage of a pipeline: a function or value and its arguments (Go's `CommandNode`).
#[derive(Clone, Debug)]
pub(super) struct Command {
    pub(super) pos: usize,
    pub(super) args: Vec<Arg>,
}

/// An operand of a command (Go's argument node types).
#[derive(Clone, Debug)]
pub(super) enum Arg {
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    /// `$x` or `$x.Field…`: the variable name first, then fields.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `.A.B`, without the dots.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    Bool {
        pos: usize,
        value: bool,
    },
    Number(Box<Number>),
    Str {
        pos: usize,
        quoted: String,
        text: Vec<u8>,
    },
    Pipe(Box<Pipe>),
    /// `(pipeline).Field…` or `function.Field…`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

/// A numeric constant, kept under every type it fits as Go's `NumberNode` does.
#[derive(Clone, Debug)]
pub(super) struct Number {
    pub(super) pos: usize,
    pub(super) text: String,
    pub(super) is_int: bool,
    pub(super) int: i64,
    pub(super) is_uint: bool,
    pub(super) is_float: bool,
    pub(super) float: f64,
}

impl Arg {
    pub(super) fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Variable { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::Str { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Number(n) => n.pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

// Go's node `String()` methods, used in error messages.

pub(super) fn write_arg(a: &Arg, s: &mut String) {
    match a {
        Arg::Identifier { name, .. } => s.push_str(name),
        Arg::Dot { .. } => s.push('.'),
        Arg::Nil { .. } => s.push_str("nil"),
        Arg::Variable { idents, .. } => s.push_str(&idents.join(".")),
        Arg::Field { idents, .. } => {
            for id in idents {
                s.push('.');
                s.push_str(id);
            }
        }
        Arg::Bool { value, .. } => s.push_str(if *value { "true" } else { "false" }),
        Arg::Number(n) => s.push_str(&n.text),
        Arg::Str { quoted, .. } => s.push_str(quoted),
        Arg::Pipe(p) => write_pipe(p, s),
        Arg::Chain { node, fields, .. } => {
            if let Arg::Pipe(p) = node.as_ref() {
                s.push('(');
                write_pipe(p, s);
                s.push(')');
            } else {
                write_arg(node, s);
            }
            for f in fields {
                s.push('.');
                s.push_str(f);
            }
        }
    }
}

pub(super) fn write_command(c: &Command, s: &mut String) {
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        if let Arg::Pipe(p) = a {
            s.push('(');
            write_pipe(p, s);
            s.push(')');
        } else {
            write_arg(a, s);
        }
    }
}

pub(super) fn write_pipe(p: &Pipe, s: &mut String) {
    if !p.decl.is_empty() {
        s.push_str(&p.decl.join(", "));
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    for (i, c) in p.cmds.iter().enumerate() {
        if i > 0 {
            s.push_str(" | ");
        }
        write_command(c, s);
    }
}

pub(super) fn write_node(n: &Node, s: &mut String) {
    match n {
        Node::Text(t) => s.push_str(&String::from_utf8_lossy(t)),
        Node::Action(a) => {
            s.push_str(LEFT_DELIM);
            write_pipe(&a.pipe, s);
            s.push_str(RIGHT_DELIM);
        }
        Node::If(b) | Node::With(b) => {
            let name = if matches!(n, Node::If(_)) {
                "if"
            } else {
                "with"
            };
            s.push_str(LEFT_DELIM);
            s.push_str(name);
            s.push(' ');
            write_pipe(&b.pipe, s);
            s.push_str(RIGHT_DELIM);
            for n in &b.list {
                write_node(n, s);
            }
            if let Some(list) = &b.else_list {
                s.push_str("{{else}}");
                for n in list {
                    write_node(n, s);
                }
            }
            s.push_str("{{end}}");
        }
    }
}

pub(super) fn arg_string(a: &Arg) -> String {
    let mut s = String::new();
    write_arg(a, &mut s);
    s
}

/// Go's `parse.newNumber`: which types a constant fits.
pub(super) fn new_number(pos: usize, text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        pos,
        text: text.to_string(),
        is_int: false,
        int: 0,
        is_uint: false,
        is_float: false,
        float: 0.0,
    };
    const COMPLEX: &str = "complex number constants are not supported by this engine";
    if typ == ItemType::CharConstant {
        let (value, _, tail) = unquote_char(&text[1..], '\'').ok_or("invalid syntax")?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        n.is_int = true;
        n.int = i64::from(value);
        n.is_uint = true;
        n.is_float = true;
        n.float = f64::from(value);
        return Ok(n);
    }
    if typ == ItemType::Complex {
        return Err(COMPLEX.into());
    }
    if let Some(imag) = text.strip_suffix('i') {
        if parse_float(imag).is_ok() {
            return Err(COMPLEX.into());
        }
    }
    let u = parse_uint(text, true).ok();
    if u.is_some() {
        n.is_uint = true;
    }
    if let Ok(i) = parse_int(text, true) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if let Some(u) = u {
        n.is_float = true;
        n.float = u as f64;
    } else if let Ok(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", go_quote(text)));
        }
        n.is_float = true;
        n.float = f;
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        if f.trunc() == f && (-TWO_63..TWO_63).contains(&f) {
            n.is_int = true;
            n.int = f as i64;
        }
        if f.trunc() == f && (0.0..2.0 * TWO_63).contains(&f) {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", go_quote(text)));
    }
    Ok(n)
}
