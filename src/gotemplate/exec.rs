//! Go's `text/template/exec.go`: walking the tree, evaluating pipelines, commands, fields and
//! variables, and typing function arguments, with Go's execution errors.

use super::fmt::Printer;
use super::node::{
    arg_string, write_arg, write_command, write_node, write_pipe, Arg, Branch, Command, Node,
    Number, Pipe,
};
use super::value::{signature, Param, Value};
use super::{Data, Effects, MAX_VALUE_LEN};
use crate::gocompat::quote::go_quote;

/// Runs a parsed template on `data` (Go's `Template.Execute`): the output bytes, or where and
/// why execution stopped.
pub(super) fn run(root: &[Node], data: Data<'_>, effects: &mut dyn Effects) -> ExecResult<Vec<u8>> {
    let mut exec = Exec {
        data,
        vars: vec![("$", Value::Struct(data.type_name))],
        node: At::None,
        out: Vec::new(),
        effects,
    };
    exec.walk_list(&Value::Struct(data.type_name), root)?;
    Ok(exec.out)
}

/// The node being evaluated, for error messages (Go's `state.node`).
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

/// An execution error: where (byte offset), the expression as Go prints it, and Go's message.
pub(super) struct ExecError {
    pub(super) pos: usize,
    pub(super) context: String,
    pub(super) msg: String,
}

pub(super) type ExecResult<T> = Result<T, ExecError>;

/// Go's `state`: the data, the variables, the node being evaluated and the output.
pub(super) struct Exec<'t, 'e> {
    pub(super) data: Data<'t>,
    /// Variable stack (Go's `state.vars`); names borrow from the tree.
    vars: Vec<(&'t str, Value)>,
    node: At<'t>,
    out: Vec<u8>,
    pub(super) effects: &'e mut dyn Effects,
}

impl<'t> Exec<'t, '_> {
    fn at(&mut self, node: At<'t>) {
        self.node = node;
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> ExecResult<T> {
        let mut context = String::new();
        let pos = match self.node {
            At::None => 0,
            At::Node(n) => {
                write_node(n, &mut context);
                match n {
                    Node::Action(a) => a.pos,
                    Node::If(b) | Node::With(b) => b.pos,
                    Node::Text(_) => 0,
                }
            }
            At::Pipe(p) => {
                write_pipe(p, &mut context);
                p.pos
            }
            At::Cmd(c) => {
                write_command(c, &mut context);
                c.pos
            }
            At::Arg(a) => {
                write_arg(a, &mut context);
                a.pos()
            }
        };
        Err(ExecError {
            pos,
            context,
            msg: msg.into(),
        })
    }

    fn walk_list(&mut self, dot: &Value, list: &'t [Node]) -> ExecResult<()> {
        for node in list {
            self.walk(dot, node)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> ExecResult<()> {
        self.at(At::Node(node));
        match node {
            Node::Text(text) => self.out.extend_from_slice(text),
            Node::Action(action) => {
                let value = self.eval_pipeline(dot, &action.pipe)?;
                if action.pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    match value {
                        Value::Nil => self.out.extend_from_slice(b"<no value>"),
                        v => {
                            let mut p = Printer::new(self.data);
                            p.print_arg(&v, 'v');
                            self.out.extend_from_slice(&p.buf);
                        }
                    }
                }
            }
            Node::If(b) => self.walk_if_or_with(false, dot, b)?,
            Node::With(b) => self.walk_if_or_with(true, dot, b)?,
        }
        if self.out.len() > MAX_VALUE_LEN {
            return self.errorf(format!(
                "output exceeds this engine's limit of {MAX_VALUE_LEN} bytes"
            ));
        }
        Ok(())
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'t Branch) -> ExecResult<()> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &b.pipe)?;
        let result = if value.truth() {
            if with {
                self.walk_list(&value, &b.list)
            } else {
                self.walk_list(dot, &b.list)
            }
        } else if let Some(list) = &b.else_list {
            self.walk_list(dot, list)
        } else {
            Ok(())
        };
        self.vars.truncate(mark);
        result
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> ExecResult<Value> {
        self.at(At::Pipe(pipe));
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(
        &self,
        first: &Arg,
        extra: &[Arg],
        final_value: &Option<Value>,
    ) -> ExecResult<()> {
        if !extra.is_empty() || final_value.is_some() {
            return self.errorf(format!(
                "can't give argument to non-function {}",
                arg_string(first)
            ));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'t Command,
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        let Some((first, extra)) = cmd.args.split_first() else {
            return self.errorf("empty command");
        };
        match first {
            Arg::Field { idents, .. } => {
                self.at(At::Arg(first));
                return self.eval_field_chain(dot.clone(), idents, extra, final_value);
            }
            Arg::Chain { node, fields, .. } => {
                // Go's `evalChainNode`: the receiver, then its fields.
                self.at(At::Arg(first));
                let receiver = self.eval_arg(dot, None, node)?;
                return self.eval_field_chain(receiver, fields, extra, final_value);
            }
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), extra, final_value)
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(first, extra, &final_value)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable { idents, .. } => {
                return self.eval_variable_node(first, idents, extra, final_value)
            }
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(first, extra, &final_value)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.errorf("nil is not a command"),
            Arg::Number(n) => self.ideal_constant(first, n),
            Arg::Str { text, .. } => Ok(Value::Str(text.clone())),
            _ => self.errorf(format!("can't evaluate command {}", arg_string(first))),
        }
    }

    /// A number where no type is expected: the syntax decides (Go's `idealConstant`).
    fn ideal_constant(&mut self, node: &'t Arg, n: &Number) -> ExecResult<Value> {
        self.at(At::Arg(node));
        let is_hex_int = n.text.len() > 2
            && n.text.starts_with('0')
            && matches!(n.text.as_bytes()[1], b'x' | b'X')
            && !n.text.contains(['p', 'P']);
        let is_rune = n.text.starts_with('\'');
        if n.is_float && !is_hex_int && !is_rune && n.text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(n.float));
        }
        if n.is_int {
            return Ok(Value::Int(n.int));
        }
        if n.is_uint {
            return self.errorf(format!("{} overflows int", n.text));
        }
        Ok(Value::Nil)
    }

    fn eval_variable_node(
        &mut self,
        node: &'t Arg,
        idents: &'t [String],
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        self.at(At::Arg(node));
        let Some((name, fields)) = idents.split_first() else {
            return self.errorf("empty variable");
        };
        let value = self.var_value(name)?;
        if fields.is_empty() {
            self.not_a_function(node, extra, &final_value)?;
            return Ok(value);
        }
        self.eval_field_chain(value, fields, extra, final_value)
    }

    fn eval_field_chain(
        &mut self,
        receiver: Value,
        idents: &[String],
        extra: &[Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        let Some((last, init)) = idents.split_last() else {
            return Ok(receiver);
        };
        let mut receiver = receiver;
        for name in init {
            receiver = self.eval_field(name, &[], &None, receiver)?;
        }
        self.eval_field(last, extra, &final_value, receiver)
    }

    fn eval_field(
        &mut self,
        name: &str,
        extra: &[Arg],
        final_value: &Option<Value>,
        receiver: Value,
    ) -> ExecResult<Value> {
        let known = match receiver {
            Value::Struct(_) => self.data.fields.iter().find(|(n, _)| *n == name),
            _ => None,
        };
        let field = match (&receiver, known) {
            // Go's default `missingkey` option: a field of nothing is nothing.
            (Value::Nil, _) => return Ok(Value::Nil),
            (_, Some((_, value))) => value.as_bytes().to_vec(),
            _ => {
                return self.errorf(format!(
                    "can't evaluate field {name} in type {}",
                    receiver.type_name()
                ))
            }
        };
        if !extra.is_empty() || final_value.is_some() {
            return self.errorf(format!(
                "{name} has arguments but cannot be invoked as function"
            ));
        }
        Ok(Value::Str(field))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        name: &str,
        call_node: At<'t>,
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        self.at(At::Arg(node));
        self.eval_call(dot, name, call_node, extra, final_value)
    }

    /// Go's `evalCall`: argument count and types, `and`/`or` short-circuit, then the call.
    fn eval_call(
        &mut self,
        dot: &Value,
        name: &str,
        call_node: At<'t>,
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        let Some(sig) = signature(name) else {
            return self.errorf(format!("{} is not a defined function", go_quote(name)));
        };
        let num_in = extra.len() + usize::from(final_value.is_some());
        let num_fixed = if sig.variadic.is_some() {
            if num_in < sig.fixed.len() {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    sig.fixed.len(),
                    extra.len()
                ));
            }
            sig.fixed.len()
        } else {
            if num_in != sig.fixed.len() {
                return self.errorf(format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    sig.fixed.len()
                ));
            }
            extra.len()
        };
        if name == "and" || name == "or" {
            let mut value = Value::Nil;
            for arg in extra {
                value = self.eval_arg(dot, Some(Param::Any), arg)?;
                if value.truth() == (name == "or") {
                    return Ok(value);
                }
            }
            if let Some(f) = final_value {
                value = self.validate_type(f, Some(Param::Any))?;
            }
            return Ok(value);
        }
        let param = |i: usize| sig.fixed.get(i).copied().unwrap_or(Param::Any);
        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in extra.iter().enumerate() {
            let typ = if i < num_fixed {
                param(i)
            } else {
                sig.variadic.unwrap_or(Param::Any)
            };
            argv.push(self.eval_arg(dot, Some(typ), arg)?);
        }
        let callee = extra.first().map(arg_string);
        if let Some(f) = final_value {
            let typ = match sig.variadic {
                Some(v) if num_in > num_fixed => v,
                Some(_) => param(num_in - 1),
                None => param(sig.fixed.len().saturating_sub(1)),
            };
            let callee_from_final = match &f {
                Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                Value::Nil => "<invalid Value>".to_string(),
                v => format!("<{} Value>", v.type_name()),
            };
            argv.push(self.validate_type(f, Some(typ))?);
            if name == "call" && callee.is_none() {
                return self.call_error(call_node, &callee_from_final, &argv);
            }
        }
        if name == "call" {
            return self.call_error(call_node, &callee.unwrap_or_default(), &argv);
        }
        match self.call_function(name, argv) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at(call_node);
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    /// `call` needs a function value, and templates here have none.
    fn call_error(&mut self, call_node: At<'t>, callee: &str, argv: &[Value]) -> ExecResult<Value> {
        let msg = match argv.first() {
            None | Some(Value::Nil) => "call of nil".to_string(),
            Some(v) => format!("non-function {callee} of type {}", v.type_name()),
        };
        self.at(call_node);
        self.errorf(format!("error calling call: {msg}"))
    }

    /// Go's `validateType`; `None` is the untyped receiver of a field chain.
    fn validate_type(&self, value: Value, typ: Option<Param>) -> ExecResult<Value> {
        match (typ, &value) {
            (None | Some(Param::Any), _)
            | (Some(Param::Int), Value::Int(_))
            | (Some(Param::Str), Value::Str(_)) => Ok(value),
            (Some(t), Value::Nil) => self.errorf(format!("invalid value; expected {t}")),
            (Some(t), v) => self.errorf(format!(
                "wrong type for value; expected {t}; got {}",
                v.type_name()
            )),
        }
    }

    fn eval_arg(&mut self, dot: &Value, typ: Option<Param>, n: &'t Arg) -> ExecResult<Value> {
        self.at(At::Arg(n));
        let value = match n {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                return match typ {
                    Some(t @ (Param::Int | Param::Str)) => {
                        self.errorf(format!("cannot assign nil to {t}"))
                    }
                    _ => Ok(Value::Nil),
                }
            }
            Arg::Field { idents, .. } => self.eval_field_chain(dot.clone(), idents, &[], None)?,
            Arg::Variable { idents, .. } => self.eval_variable_node(n, idents, &[], None)?,
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, n, name, At::Arg(n), &[], None)?
            }
            Arg::Chain { node, fields, .. } => {
                let receiver = self.eval_arg(dot, None, node)?;
                self.eval_field_chain(receiver, fields, &[], None)?
            }
            _ => {
                return match typ {
                    Some(Param::Int) => match n {
                        Arg::Number(num) if num.is_int => Ok(Value::Int(num.int)),
                        _ => self.errorf(format!("expected integer; found {}", arg_string(n))),
                    },
                    Some(Param::Str) => match n {
                        Arg::Str { text, .. } => Ok(Value::Str(text.clone())),
                        _ => self.errorf(format!("expected string; found {}", arg_string(n))),
                    },
                    _ => match n {
                        Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
                        Arg::Number(num) => self.ideal_constant(n, num),
                        Arg::Str { text, .. } => Ok(Value::Str(text.clone())),
                        _ => self.errorf(format!(
                            "can't handle assignment of {} to empty interface argument",
                            arg_string(n)
                        )),
                    },
                };
            }
        };
        self.validate_type(value, typ)
    }

    fn var_value(&self, name: &str) -> ExecResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, value: Value) -> ExecResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }
}
