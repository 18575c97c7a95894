package mapping

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"orderimport/internal/locale"
)

// Compile-time limits of one expression.
const (
	maxExprChars = 4000 // characters of source
	maxExprNodes = 500  // syntax nodes (expr's MaxNodes)
)

// Names the rewritten tree uses for the evaluation environment. They start
// with '@', which the expression lexer never produces, so users can neither
// read nor shadow them.
const (
	envOrder = "@o" // the decoded order object
	envRun   = "@r" // the *run: meter and time zones of this evaluation
)

// How expressions are compiled
//
// expr-lang/expr evaluates with Go semantics: float64 arithmetic, errors on
// nil, maps only. RetailCRM orders need decimal arithmetic, nil-safe paths
// and `[]` read as an empty object, and a shared worker needs every
// evaluation to be bounded. expr.Operator cannot express this: it picks an
// overload from static types, and here every value is `any`. So each
// expression is parsed with expr's parser, rewritten by patcher into calls
// of this package's functions (funcs.go), then type-checked and compiled
// with expr's own checker and compiler:
//
//   - a top-level name `x` becomes @get(@o, "x"), `a.b` and `a[k]` become
//     @get(a, k): nil-safe, `[]` reads as an empty object, numbers index lists;
//   - + - * / % ** and comparisons become decimal-aware functions, `in` too;
//   - conditions (and, or, not, ?:, predicates of filter/all/…) go through
//     @test, where nil is false and anything but true/false is an error;
//   - every loop iteration and every function call charges a meter in the
//     run (@r), so evaluation stops with an error once it exceeds stepBudget;
//     the VM's own memory budget bounds the lists, maps and ranges it builds;
//   - sum, sortBy and groupBy are rebuilt on decimal-aware functions;
//     builtins that could amplify memory (repeat, replace, join, toJSON, …)
//     are replaced by bounded versions or disabled.

// disabledBuiltins are expr builtins a mapping has no use for and that could
// build unbounded output (toJSON of a shared-substructure list) or load time
// zones per call (timezone). date and now are replaced by versions that use
// the RetailCRM account's time zone.
var disabledBuiltins = []string{"toJSON", "toBase64", "fromBase64", "timezone", "date", "now"}

// functionsTable holds every function the rewritten trees call, built once.
var functionsTable = func() conf.FunctionsTable {
	t := make(conf.FunctionsTable, len(langFuncs))
	for name, f := range langFuncs {
		t[name] = &builtin.Function{Name: name, Func: f.call}
	}
	return t
}()

// compileExpr compiles one field's expression. paths lists the parts of the
// order the expression reads (see readPaths).
func compileExpr(src string) (prog *vm.Program, paths []path, ferr *FieldError) {
	if n := len([]rune(src)); n > maxExprChars {
		return nil, nil, &FieldError{Expr: src, Line: 1, Column: 1, Msg: locale.M("expression_too_long", "length", n, "max", maxExprChars)}
	}
	defer func() {
		// The parser, checker and compiler report problems as errors, but a
		// tree this package rewrote is not what they were tested on; a panic
		// must become a compile error, never take a worker down.
		if r := recover(); r != nil {
			prog, paths, ferr = nil, nil, invalidExpr(src, 1, 1, fmt.Sprintf("cannot compile: %v", r))
		}
	}()

	config := conf.CreateNew()
	config.WithEnv(map[string]any{})
	config.Strict = false
	config.MaxNodes = maxExprNodes
	config.Optimize = false
	for _, name := range disabledBuiltins {
		config.Disabled[name] = true
		delete(config.Builtins, name)
	}
	for name, f := range functionsTable {
		config.Functions[name] = f
	}

	tree, err := parser.ParseWithConfig(src, config)
	if err != nil {
		return nil, nil, fieldErrorFrom(src, err)
	}
	p := patcher{source: tree.Source}
	p.walk(&tree.Node)
	if p.err != nil {
		return nil, nil, fieldErrorFrom(src, p.err)
	}
	if _, err := checker.Check(tree, config); err != nil {
		return nil, nil, fieldErrorFrom(src, err)
	}
	prog, err = compiler.Compile(tree, config)
	if err != nil {
		return nil, nil, fieldErrorFrom(src, err)
	}
	return prog, readPaths(tree.Node), nil
}

// forEachChild calls fn with every direct child of n.
func forEachChild(n ast.Node, fn func(ast.Node)) {
	var kids []ast.Node
	switch x := n.(type) {
	case *ast.UnaryNode:
		kids = []ast.Node{x.Node}
	case *ast.BinaryNode:
		kids = []ast.Node{x.Left, x.Right}
	case *ast.ChainNode:
		kids = []ast.Node{x.Node}
	case *ast.MemberNode:
		kids = []ast.Node{x.Node, x.Property}
	case *ast.SliceNode:
		kids = []ast.Node{x.Node, x.From, x.To}
	case *ast.CallNode:
		kids = append([]ast.Node{x.Callee}, x.Arguments...)
	case *ast.BuiltinNode:
		kids = x.Arguments
	case *ast.PredicateNode:
		kids = []ast.Node{x.Node}
	case *ast.VariableDeclaratorNode:
		kids = []ast.Node{x.Value, x.Expr}
	case *ast.SequenceNode:
		kids = x.Nodes
	case *ast.ConditionalNode:
		kids = []ast.Node{x.Cond, x.Exp1, x.Exp2}
	case *ast.ArrayNode:
		kids = x.Nodes
	case *ast.MapNode:
		kids = x.Pairs
	case *ast.PairNode:
		kids = []ast.Node{x.Key, x.Value}
	}
	for _, k := range kids {
		if k != nil {
			fn(k)
		}
	}
}

// fieldErrorFrom turns an expr error into a FieldError with a 1-based
// position.
func fieldErrorFrom(src string, err error) *FieldError {
	if e, ok := err.(*file.Error); ok {
		return invalidExpr(src, e.Line, e.Column+1, e.Message)
	}
	return invalidExpr(src, 1, 1, err.Error())
}

// invalidExpr is the FieldError of an expression that does not compile at
// line:column, with expr's diagnostic as the message's detail.
func invalidExpr(src string, line, column int, diag string) *FieldError {
	return &FieldError{Expr: src, Line: line, Column: column,
		Msg: locale.M("expression_invalid", "line", line, "column", column).WithDetail(diag)}
}

// Builtins that take a predicate, by what the predicate yields.
var (
	conditionBuiltins = []string{"all", "none", "any", "one", "filter", "count", "find", "findIndex", "findLast", "findLastIndex"}
	valueBuiltins     = []string{"map", "reduce", "sum", "sortBy", "groupBy"}
)

// patcher rewrites a parsed tree as described at the top of this file.
// Children are rewritten before their parent; nodes it creates are not
// visited again.
type patcher struct {
	source file.Source
	scope  []string // `let` variables visible at the current node
	err    *file.Error
}

func (p *patcher) fail(n ast.Node, format string, args ...any) {
	if p.err == nil {
		p.err = (&file.Error{Location: n.Location(), Message: fmt.Sprintf(format, args...)}).Bind(p.source)
	}
}

func (p *patcher) walk(np *ast.Node) {
	switch n := (*np).(type) {
	case nil:
		return
	case *ast.VariableDeclaratorNode:
		p.walk(&n.Value)
		p.scope = append(p.scope, n.Name)
		p.walk(&n.Expr)
		p.scope = p.scope[:len(p.scope)-1]
		return
	case *ast.UnaryNode:
		p.walk(&n.Node)
	case *ast.BinaryNode:
		p.walk(&n.Left)
		p.walk(&n.Right)
	case *ast.ChainNode:
		p.walk(&n.Node)
	case *ast.MemberNode:
		p.walk(&n.Node)
		if _, ok := n.Property.(*ast.StringNode); !ok {
			p.walk(&n.Property)
		}
	case *ast.SliceNode:
		p.walk(&n.Node)
		p.walk(&n.From)
		p.walk(&n.To)
	case *ast.CallNode:
		if _, ok := n.Callee.(*ast.IdentifierNode); !ok {
			p.walk(&n.Callee)
		}
		for i := range n.Arguments {
			p.walk(&n.Arguments[i])
		}
	case *ast.BuiltinNode:
		for i := range n.Arguments {
			p.walk(&n.Arguments[i])
		}
	case *ast.PredicateNode:
		p.walk(&n.Node)
		return
	case *ast.SequenceNode:
		for i := range n.Nodes {
			p.walk(&n.Nodes[i])
		}
		return
	case *ast.ConditionalNode:
		p.walk(&n.Cond)
		p.walk(&n.Exp1)
		p.walk(&n.Exp2)
	case *ast.ArrayNode:
		for i := range n.Nodes {
			p.walk(&n.Nodes[i])
		}
		return
	case *ast.MapNode:
		for i := range n.Pairs {
			p.walk(&n.Pairs[i])
		}
		return
	case *ast.PairNode:
		if _, ok := n.Key.(*ast.StringNode); !ok {
			p.walk(&n.Key)
		}
		p.walk(&n.Value)
		return
	}
	p.rewrite(np)
}

// call builds a call of one of this package's functions, located at at so
// runtime errors point at the user's source. The run is always the first
// argument.
func call(at ast.Node, name string, args ...ast.Node) ast.Node {
	c := &ast.CallNode{Callee: ident(at, name), Arguments: append([]ast.Node{ident(at, envRun)}, args...)}
	c.SetLocation(at.Location())
	return c
}

func ident(at ast.Node, name string) *ast.IdentifierNode {
	n := &ast.IdentifierNode{Value: name}
	n.SetLocation(at.Location())
	return n
}

var arithmetic = map[string]string{
	"+": "@add", "-": "@sub", "*": "@mul", "/": "@div", "%": "@mod", "**": "@pow", "^": "@pow",
	"==": "@eq", "!=": "@ne", "<": "@lt", ">": "@gt", "<=": "@le", ">=": "@ge", "in": "@in",
}

func (p *patcher) rewrite(np *ast.Node) {
	switch n := (*np).(type) {
	case *ast.IdentifierNode:
		switch {
		case slices.Contains(p.scope, n.Value):
		case n.Value == "$env":
			*np = ident(n, envOrder)
		default:
			*np = call(n, "@get", ident(n, envOrder), &ast.StringNode{Value: n.Value})
		}

	case *ast.MemberNode:
		if n.Method {
			*np = call(n, "@method", n.Node, n.Property)
		} else {
			*np = call(n, "@get", n.Node, n.Property)
		}

	case *ast.BinaryNode:
		if fn, ok := arithmetic[n.Operator]; ok {
			*np = call(n, fn, n.Left, n.Right)
			return
		}
		switch n.Operator {
		case "and", "or", "&&", "||":
			n.Left = call(n.Left, "@test", n.Left)
			n.Right = call(n.Right, "@test", n.Right)
		case "contains", "startsWith", "endsWith":
			n.Left = call(n.Left, "@text", n.Left)
			n.Right = call(n.Right, "@text", n.Right)
		case "matches":
			// A literal pattern stays literal so expr compiles the regexp
			// once instead of on every evaluation.
			n.Left = call(n.Left, "@text", n.Left)
			if _, ok := n.Right.(*ast.StringNode); !ok {
				n.Right = call(n.Right, "@text", n.Right)
			}
		case "..":
			n.Left = call(n.Left, "@int", n.Left)
			n.Right = call(n.Right, "@int", n.Right)
		}

	case *ast.UnaryNode:
		switch n.Operator {
		case "-":
			switch v := n.Node.(type) {
			case *ast.IntegerNode:
				v.Value = -v.Value
				*np = v
			case *ast.FloatNode:
				v.Value = -v.Value
				*np = v
			default:
				*np = call(n, "@neg", n.Node)
			}
		case "+":
			*np = call(n, "@pos", n.Node)
		default: // "not", "!"
			n.Node = call(n.Node, "@test", n.Node)
		}

	case *ast.ConditionalNode:
		n.Cond = call(n.Cond, "@test", n.Cond)

	case *ast.SliceNode:
		if n.From != nil {
			n.From = call(n.From, "@int", n.From)
		}
		if n.To != nil {
			n.To = call(n.To, "@int", n.To)
		}

	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return // a method call; @method already checked the receiver
		}
		f, ok := langFuncs[id.Value]
		if !ok || !f.public {
			p.fail(n, "unknown function %s", id.Value)
			return
		}
		if len(n.Arguments) < f.min || (f.max >= 0 && len(n.Arguments) > f.max) {
			p.fail(n, "%s: wrong number of arguments (%d; %s)", id.Value, len(n.Arguments), f.arity())
			return
		}
		n.Arguments = append([]ast.Node{ident(n, envRun)}, n.Arguments...)

	case *ast.BuiltinNode:
		p.rewriteBuiltin(np, n)
	}
}

func (p *patcher) rewriteBuiltin(np *ast.Node, n *ast.BuiltinNode) {
	cond := slices.Contains(conditionBuiltins, n.Name)
	if !cond && !slices.Contains(valueBuiltins, n.Name) {
		// Builtins kept as they are (first, last, take, reverse, concat,
		// flatten, fromPairs, duration, bit operations) are charged for what
		// they read and what they return.
		for i, a := range n.Arguments {
			n.Arguments[i] = call(a, "@size", a)
		}
		*np = call(n, "@size", n)
		return
	}

	n.Arguments[0] = call(n.Arguments[0], "@list", n.Arguments[0])
	if len(n.Arguments) < 2 {
		if n.Name == "count" || n.Name == "sum" {
			// count(list) and sum(list) have no predicate: the element is it.
			ptr := &ast.PointerNode{}
			ptr.SetLocation(n.Location())
			pred := &ast.PredicateNode{Node: ptr}
			pred.SetLocation(n.Location())
			n.Arguments = append(n.Arguments, pred)
		} else {
			p.fail(n, "%s: missing predicate", n.Name)
			return
		}
	}
	pred, ok := n.Arguments[1].(*ast.PredicateNode)
	if !ok {
		p.fail(n, "%s: the second argument must be a predicate", n.Name)
		return
	}
	if cond {
		pred.Node = call(pred.Node, "@test", pred.Node)
		return
	}
	pred.Node = call(pred.Node, "@step", pred.Node)

	switch n.Name {
	case "sum":
		*np = call(n, "@sum", mapNode(n, n.Arguments[0], pred))
	case "sortBy":
		// sortBy(list, key, order) → @sortBy(map(list, [#, key]), order):
		// keys are compared with decimal-aware ordering.
		args := []ast.Node{mapNode(n, n.Arguments[0], pairPredicate(pred))}
		if len(n.Arguments) > 2 {
			args = append(args, n.Arguments[2])
		}
		*np = call(n, "@sortBy", args...)
	case "groupBy":
		*np = call(n, "@groupBy", mapNode(n, n.Arguments[0], pairPredicate(pred)))
	}
}

func mapNode(at ast.Node, list ast.Node, pred *ast.PredicateNode) ast.Node {
	m := &ast.BuiltinNode{Name: "map", Arguments: []ast.Node{list, pred}}
	m.SetLocation(at.Location())
	return m
}

// pairPredicate turns the predicate `key` into `[#, key]`.
func pairPredicate(pred *ast.PredicateNode) *ast.PredicateNode {
	ptr := &ast.PointerNode{}
	ptr.SetLocation(pred.Location())
	arr := &ast.ArrayNode{Nodes: []ast.Node{ptr, pred.Node}}
	arr.SetLocation(pred.Location())
	out := &ast.PredicateNode{Node: arr}
	out.SetLocation(pred.Location())
	return out
}
